/* Embedded SPIR-V: every shaders/<name>.comp becomes one entry, looked up by <name>. */
#ifndef EVONET_SHADERS_H
#define EVONET_SHADERS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *name;
  const uint32_t *words;
  const size_t *size; /* bytes */
} ev_shader_code;

extern const ev_shader_code ev_shader_table[]; /* ends with a NULL name */

/* NULL if no shader of that name was built into the library. */
const ev_shader_code *ev_shader_find(const char *name);
#endif
