/* A run folder (train's or evolve's --out) that cannot be silently wrong:
 *   - a lock, OUT/run.lock: an exclusive fcntl lock held while a command works there. The kernel
 *     drops it when the process ends, however it ends (kill -9 included), so it never sticks;
 *     the file itself stays (unlinking a lock file races with a process about to lock it).
 *   - a manifest, OUT/run.json: the command and the settings that define the run's results,
 *     written atomically when the run starts. A later command continues the run only with the
 *     same settings; otherwise it stops with one line naming each difference, changing nothing,
 *     unless it was asked to start over.
 *   - temporary files of ev_write_file_atomic (NAME.tmp.<pid>) left by a process that was killed
 *     are removed by the next command that takes the folder (only those of pids not running).
 * Settings are text: numbers in their shortest exact form, folders by their real path (so the
 * working folder may change), files by a fingerprint of their content (path shown in messages). */
#ifndef EVONET_RUN_FOLDER_H
#define EVONET_RUN_FOLDER_H
#include <stdbool.h>

#include "evonet/status.h"

#define EV_RUN_LOCK "run.lock"
#define EV_RUN_MANIFEST "run.json"

typedef struct {
  char *key;   /* the flag that sets it, without "--" */
  char *value; /* what is compared */
  char *shown; /* a file setting's path, for messages (its value is the fingerprint); else NULL */
} ev_setting;

typedef struct {
  char command[32]; /* "train", "evolve" */
  ev_setting *items;
  int n, cap;
  ev_status error; /* the first failure of an add (out of memory, an unreadable file) */
} ev_run_settings;

void ev_settings_init(ev_run_settings *s, const char *command);
void ev_settings_free(ev_run_settings *s);
/* Adders; a failure is kept in s->error and reported by ev_run_folder_open. */
void ev_settings_text(ev_run_settings *s, const char *key, const char *value);
void ev_settings_double(ev_run_settings *s, const char *key, double v); /* shortest exact */
void ev_settings_float(ev_run_settings *s, const char *key, float v);   /* shortest exact float */
void ev_settings_yes_no(ev_run_settings *s, const char *key, bool v);
/* A folder: its real path (the path as given when it does not resolve). */
void ev_settings_folder(ev_run_settings *s, const char *key, const char *path);
/* A file: a 64-bit FNV-1a fingerprint of its content; NULL path: "none". */
void ev_settings_file(ev_run_settings *s, const char *key, const char *path);

typedef struct {
  int fd; /* the lock file, -1 when not held */
} ev_run_lock;

/* Creates dir (mkdir -p) and locks dir/run.lock without waiting. Held elsewhere: EV_ERR_IO
 * "DIR is in use by another evonet (pid P): ..." and nothing changes. */
ev_status ev_run_lock_take(const char *dir, ev_run_lock *l);
void ev_run_lock_release(ev_run_lock *l);

/* With the lock held, makes dir the run of `s`:
 *   start_over: removes the manifest and every entry of dir matching one of the fnmatch
 *     patterns `outputs` (NULL-terminated; folders with their content), then writes the manifest;
 *   otherwise, a manifest with the same command and settings: the run continues; none and no
 *     output present: the manifest is written (a new run); another command or other settings,
 *     or outputs without a manifest (an older evonet's run): EV_ERR_ARG in one line naming each
 *     difference and the two values, and nothing on disk changes.
 * Then removes stale temporary files (NAME.tmp.<pid> of pids not running) in dir and its
 * subfolders; *swept (may be NULL) counts them. */
ev_status ev_run_folder_open(const char *dir, const ev_run_settings *s, const char *const *outputs, bool start_over,
                             int *swept);
#endif
