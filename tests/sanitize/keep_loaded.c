/* Sanitizer builds only (-DEVONET_SANITIZE=...): compiled into the evonet program and every
 * test program, never into the library.
 *
 * The Vulkan loader unloads the driver (lavapipe) and the layers when evonet destroys its
 * instance. LeakSanitizer checks at exit, when their code is gone: a driver's leaks then show
 * as "<unknown module>" that no suppression can name, and memory the driver still holds in
 * its globals counts as leaked. Opening the libraries listed in EVONET_SANITIZE_KEEP_LOADED
 * (colon-separated; ctest sets it, see tests/CMakeLists.txt) once more with RTLD_NODELETE
 * keeps them mapped until exit, so every report names its library and tests/sanitize/lsan.supp
 * can suppress third-party leaks by library name. Nothing else changes: the loader still
 * opens, uses and closes them as usual. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void evonet_sanitize_keep_loaded(void) {
  const char *list = getenv("EVONET_SANITIZE_KEEP_LOADED");
  if (!list) return;
  char path[4096];
  while (*list) {
    size_t n = strcspn(list, ":");
    if (n > 0 && n < sizeof path) {
      memcpy(path, list, n);
      path[n] = 0;
      dlopen(path, RTLD_LAZY | RTLD_NODELETE); /* a missing library is not an error here */
    }
    list += n + (list[n] == ':');
  }
}
