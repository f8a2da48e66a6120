#include <string.h>

#include "evonet/shaders.h"

const ev_shader_code *ev_shader_find(const char *name) {
  for (const ev_shader_code *s = ev_shader_table; s->name; s++)
    if (strcmp(s->name, name) == 0) return s;
  return NULL;
}
