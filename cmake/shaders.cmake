# Compile each shaders/*.comp to SPIR-V with glslc and embed it as a C array.
# A change to one shader (or to an include it uses, via the depfile) rebuilds that shader
# only; a GLSL error fails the build with glslc's file:line message.
set(EVONET_SPV_DIR ${CMAKE_BINARY_DIR}/shaders)

function(evonet_embed_shaders out_var)
  set(sources "")
  set(names "")
  foreach(comp ${ARGN})
    get_filename_component(name ${comp} NAME_WE)
    set(spv ${EVONET_SPV_DIR}/${name}.spv)
    set(csrc ${EVONET_SPV_DIR}/${name}.spv.c)
    add_custom_command(
      OUTPUT ${spv}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${EVONET_SPV_DIR}
      COMMAND ${GLSLC} -O --target-env=vulkan1.1 -I${CMAKE_SOURCE_DIR}/shaders/include
              -MD -MF ${spv}.d -o ${spv} ${comp}
      DEPENDS ${comp}
      DEPFILE ${spv}.d
      COMMENT "glslc ${name}.comp"
      VERBATIM)
    add_custom_command(
      OUTPUT ${csrc}
      COMMAND ${CMAKE_COMMAND} -DSPV=${spv} -DOUT=${csrc} -DNAME=${name}
              -P ${CMAKE_SOURCE_DIR}/cmake/spv_to_c.cmake
      DEPENDS ${spv} ${CMAKE_SOURCE_DIR}/cmake/spv_to_c.cmake
      VERBATIM)
    list(APPEND sources ${csrc})
    list(APPEND names ${name})
  endforeach()
  # the index: name -> words, regenerated whenever the set of shaders changes (configure)
  set(index ${EVONET_SPV_DIR}/shader_index.c)
  set(body "#include <stddef.h>\n#include <stdint.h>\n#include \"evonet/shaders.h\"\n")
  foreach(n ${names})
    string(APPEND body "extern const uint32_t ev_spv_${n}[]; extern const size_t ev_spv_${n}_size;\n")
  endforeach()
  string(APPEND body "const ev_shader_code ev_shader_table[] = {\n")
  foreach(n ${names})
    string(APPEND body "  {\"${n}\", ev_spv_${n}, &ev_spv_${n}_size},\n")
  endforeach()
  string(APPEND body "  {NULL, NULL, NULL}\n};\n")
  file(CONFIGURE OUTPUT ${index} CONTENT "${body}")
  list(APPEND sources ${index})
  set(${out_var} ${sources} PARENT_SCOPE)
endfunction()
