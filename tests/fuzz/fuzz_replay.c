/* Without libFuzzer: runs a fuzz target once over each file named, or each file in each
 * folder named (the committed corpus), so the test suite replays every input a fuzzing
 * run kept. Exit 0 when all ran; a crash is the failure. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evonet/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  void *data;
  size_t size;
  if (ev_read_file(path, &data, &size) != 0) {
    fprintf(stderr, "fuzz_replay: cannot read %s\n", path);
    return 1;
  }
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 0;
}

int main(int argc, char **argv) {
  int n = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "fuzz_replay: no such file or folder: %s\n", argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (run_file(argv[i])) return 1;
      n++;
      continue;
    }
    struct dirent **ents;
    int m = scandir(argv[i], &ents, NULL, alphasort);
    if (m < 0) return 1;
    for (int j = 0; j < m; j++) {
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", argv[i], ents[j]->d_name);
      struct stat fs;
      if (ents[j]->d_name[0] != '.' && stat(p, &fs) == 0 && S_ISREG(fs.st_mode)) {
        if (run_file(p)) return 1;
        n++;
      }
      free(ents[j]);
    }
    free(ents);
  }
  if (n == 0) {
    fprintf(stderr, "fuzz_replay: no inputs\n");
    return 1;
  }
  printf("fuzz_replay: %d inputs ran\n", n);
  return 0;
}
