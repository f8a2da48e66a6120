/* Push constants written once for C and GLSL.
 *
 * Each kernel's push block is a member list in a header of this folder, e.g.
 *
 *   #define EV_PUSH_upsample(F) F(int, N) F(int, H) ... F(float, scale_w)
 *   EV_PUSH_STRUCT(upsample)
 *
 * The shader includes that header and declares its block with EV_PUSH_BLOCK(upsample)
 * (glslc: `layout(push_constant) uniform ev_push_upsample { int N; ... };`, the members
 * global names as before); the host includes the same header and gets the struct
 * ev_push_upsample (C: `typedef struct { int32_t N; ... } ev_push_upsample;`), fills it and
 * passes .push_size = sizeof(ev_push_upsample) with it to ev_dispatch. EV_PUSH_STRUCT expands
 * to nothing in GLSL, EV_PUSH_BLOCK to nothing in C.
 *
 * Member types: int, uint, float (4 bytes each) and ivec4, uvec4, uvec2 (C arrays). The
 * block uses std430-style offsets, C packs scalars the same way; a vector member must sit
 * at an offset that is a multiple of its size (16, 8) and the header that has one asserts
 * that for C (EV_PUSH_ASSERT_ALIGNED). A shader may declare only one push block. */
#ifndef EV_PUSH_H
#define EV_PUSH_H

#ifdef VULKAN /* glslc: GLSL for Vulkan */
#define EV_PUSH_GLSL_MEMBER_(type, name) type name;
#define EV_PUSH_BLOCK(kernel) \
  layout(push_constant) uniform ev_push_##kernel { EV_PUSH_##kernel(EV_PUSH_GLSL_MEMBER_) };
/* the same with an instance name: members read as inst.name */
#define EV_PUSH_BLOCK_AS(kernel, inst) \
  layout(push_constant) uniform ev_push_##kernel { EV_PUSH_##kernel(EV_PUSH_GLSL_MEMBER_) } inst;
#define EV_PUSH_STRUCT(kernel)
#define EV_PUSH_ASSERT_ALIGNED(kernel, member, bytes)

#else /* C */
#include <stddef.h>
#include <stdint.h>
#define EV_PUSH_CTYPE_int int32_t
#define EV_PUSH_CTYPE_uint uint32_t
#define EV_PUSH_CTYPE_float float
#define EV_PUSH_CTYPE_ivec4 int32_t
#define EV_PUSH_CTYPE_uvec4 uint32_t
#define EV_PUSH_CTYPE_uvec2 uint32_t
#define EV_PUSH_CDIM_int
#define EV_PUSH_CDIM_uint
#define EV_PUSH_CDIM_float
#define EV_PUSH_CDIM_ivec4 [4]
#define EV_PUSH_CDIM_uvec4 [4]
#define EV_PUSH_CDIM_uvec2 [2]
#define EV_PUSH_C_MEMBER_(type, name) EV_PUSH_CTYPE_##type name EV_PUSH_CDIM_##type;
#define EV_PUSH_STRUCT(kernel) \
  typedef struct ev_push_##kernel { EV_PUSH_##kernel(EV_PUSH_C_MEMBER_) } ev_push_##kernel;
#define EV_PUSH_BLOCK(kernel)
#define EV_PUSH_BLOCK_AS(kernel, inst)
#define EV_PUSH_ASSERT_ALIGNED(kernel, member, bytes)                                  \
  _Static_assert(offsetof(ev_push_##kernel, member) % (bytes) == 0,                    \
                 "ev_push_" #kernel "." #member ": a GLSL vector member needs an offset " \
                 "that is a multiple of its size");
#endif
#endif
