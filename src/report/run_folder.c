/* A run folder's lock, manifest and stale temporary files (include/evonet/run_folder.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "evonet/run_folder.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evonet/io.h"

/* ---------------- settings ---------------- */
void ev_settings_init(ev_run_settings *s, const char *command) {
  memset(s, 0, sizeof *s);
  snprintf(s->command, sizeof s->command, "%s", command);
}

void ev_settings_free(ev_run_settings *s) {
  for (int i = 0; i < s->n; i++) free(s->items[i].key), free(s->items[i].value), free(s->items[i].shown);
  free(s->items);
  memset(s, 0, sizeof *s);
}

static void add(ev_run_settings *s, const char *key, const char *value, const char *shown) {
  if (s->error != EV_OK) return;
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 32;
    ev_setting *p = realloc(s->items, (size_t)cap * sizeof *p);
    if (!p) {
      s->error = ev_fail(EV_ERR_OOM, "out of memory");
      return;
    }
    s->items = p, s->cap = cap;
  }
  ev_setting *it = &s->items[s->n];
  it->key = strdup(key), it->value = strdup(value), it->shown = shown ? strdup(shown) : NULL;
  if (!it->key || !it->value || (shown && !it->shown)) {
    free(it->key), free(it->value), free(it->shown);
    s->error = ev_fail(EV_ERR_OOM, "out of memory");
    return;
  }
  s->n++;
}

void ev_settings_text(ev_run_settings *s, const char *key, const char *value) { add(s, key, value ? value : "", NULL); }

void ev_settings_double(ev_run_settings *s, const char *key, double v) {
  char buf[40];
  for (int digits = 15; digits <= 17; digits++) { /* the shortest that reads back as v */
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break;
  }
  add(s, key, buf, NULL);
}

void ev_settings_float(ev_run_settings *s, const char *key, float v) {
  char buf[40];
  for (int digits = 6; digits <= 9; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
    if (strtof(buf, NULL) == v) break;
  }
  add(s, key, buf, NULL);
}

void ev_settings_yes_no(ev_run_settings *s, const char *key, bool v) { add(s, key, v ? "yes" : "no", NULL); }

void ev_settings_folder(ev_run_settings *s, const char *key, const char *path) {
  char real[PATH_MAX];
  add(s, key, path && realpath(path, real) ? real : path ? path : "none", NULL);
}

void ev_settings_file(ev_run_settings *s, const char *key, const char *path) {
  if (!path) {
    add(s, key, "none", NULL);
    return;
  }
  if (s->error != EV_OK) return;
  FILE *f = fopen(path, "rb");
  if (!f) {
    s->error = ev_fail(EV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    return;
  }
  uint64_t h = 14695981039346656037ull; /* FNV-1a: detects a changed file; nothing adversarial */
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 1099511628211ull;
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    s->error = ev_fail(EV_ERR_IO, "cannot read %s", path);
    return;
  }
  char value[40];
  snprintf(value, sizeof value, "fnv1a64:%016llx", (unsigned long long)h);
  add(s, key, value, path);
}

/* ---------------- the lock ---------------- */
ev_status ev_run_lock_take(const char *dir, ev_run_lock *l) {
  l->fd = -1;
  EV_TRY(ev_mkdirs(dir));
  char path[4096];
  ev_path_join(path, sizeof path, dir, EV_RUN_LOCK);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ev_fail(EV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  /* fcntl rather than flock: F_GETLK names the holder's pid */
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  for (int tries = 0; tries < 5; tries++) {
    if (fcntl(fd, F_SETLK, &fl) == 0) {
      l->fd = fd;
      return EV_OK;
    }
    if (errno != EACCES && errno != EAGAIN) break;
    struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK) {
      close(fd);
      return ev_fail(EV_ERR_IO, "%s is in use by another evonet (pid %ld): wait for it to finish or choose another --out",
                     dir, (long)who.l_pid);
    }
    /* the holder ended between the two calls: try again */
  }
  int e = errno;
  close(fd);
  return ev_fail(EV_ERR_IO, "cannot lock %s: %s", path, strerror(e));
}

void ev_run_lock_release(ev_run_lock *l) {
  if (l->fd >= 0) close(l->fd); /* closing drops the lock */
  l->fd = -1;
}

/* ---------------- the folder's entries ---------------- */
/* fn(name, path, ctx) for every entry of dir but . and .., until one fails. */
typedef ev_status (*entry_fn)(const char *name, const char *path, void *ctx);
static ev_status walk(const char *dir, const char *what, entry_fn fn, void *ctx) {
  DIR *d = opendir(dir);
  if (!d) return ev_fail(EV_ERR_IO, "cannot %s %s: %s", what, dir, strerror(errno));
  ev_status s = EV_OK;
  struct dirent *e;
  char path[4096];
  while (s == EV_OK && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      s = fn(e->d_name, ev_path_join(path, sizeof path, dir, e->d_name), ctx);
  closedir(d);
  return s;
}

static ev_status remove_entry(const char *name, const char *path, void *ctx);

/* Removes path, and a folder with everything in it (symbolic links are removed, not followed). */
static ev_status remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? EV_OK : ev_fail(EV_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    EV_TRY(walk(path, "remove", remove_entry, NULL));
    if (rmdir(path) != 0) return ev_fail(EV_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return EV_OK;
  }
  if (unlink(path) != 0 && errno != ENOENT) return ev_fail(EV_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
  return EV_OK;
}

static ev_status remove_entry(const char *name, const char *path, void *ctx) { return remove_tree(path); }

static bool matches(const char *name, const char *const *patterns) {
  for (const char *const *p = patterns; p && *p; p++)
    if (fnmatch(*p, name, 0) == 0) return true;
  return false;
}

typedef struct { const char *const *outputs; bool remove, *found; } outputs_ctx;
static ev_status output_entry(const char *name, const char *path, void *ctx) {
  outputs_ctx *c = ctx;
  if (!matches(name, c->outputs)) return EV_OK;
  if (c->found) *c->found = true;
  return c->remove ? remove_tree(path) : EV_OK;
}

/* remove: every entry of dir matching outputs is removed; otherwise *found says whether any is there. */
static ev_status each_output(const char *dir, const char *const *outputs, bool remove, bool *found) {
  return walk(dir, "read folder", output_entry, &(outputs_ctx){outputs, remove, found});
}

/* NAME.tmp.<pid>: the pid, or 0 when the name is not a temporary file's. */
static long tmp_pid(const char *name) {
  const char *t = strstr(name, ".tmp."), *last = NULL;
  for (; t; t = strstr(t + 1, ".tmp.")) last = t;
  if (!last || last == name || !last[5]) return 0;
  char *end;
  long pid = strtol(last + 5, &end, 10);
  return *end || pid <= 0 || pid > INT_MAX ? 0 : pid;
}

static bool pid_running(long pid) {
  return pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH; /* EPERM: it runs */
}

typedef struct { int depth, *n; } sweep_ctx;
static ev_status sweep_entry(const char *name, const char *path, void *ctx) {
  sweep_ctx *c = ctx;
  struct stat st;
  if (lstat(path, &st) != 0) return EV_OK; /* gone meanwhile */
  long pid = tmp_pid(name);
  if (S_ISDIR(st.st_mode) && c->depth < 2) return walk(path, "read folder", sweep_entry, &(sweep_ctx){c->depth + 1, c->n});
  if (!S_ISREG(st.st_mode) || !pid || pid_running(pid)) return EV_OK;
  if (unlink(path) != 0 && errno != ENOENT) return ev_fail(EV_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
  ++*c->n;
  return EV_OK;
}

/* Temporary files of dead processes in dir and two levels of subfolders; *n counts them. */
static ev_status sweep(const char *dir, int depth, int *n) {
  return walk(dir, "read folder", sweep_entry, &(sweep_ctx){depth, n});
}

/* ---------------- the manifest ---------------- */
static ev_status write_manifest(const char *path, const ev_run_settings *s) {
  cJSON *o = cJSON_CreateObject();
  bool ok = o && cJSON_AddStringToObject(o, "command", s->command);
  cJSON *set = ok ? cJSON_AddObjectToObject(o, "settings") : NULL, *paths = set ? cJSON_AddObjectToObject(o, "paths") : NULL;
  ok = paths != NULL;
  for (int i = 0; ok && i < s->n; i++) {
    ok = cJSON_AddStringToObject(set, s->items[i].key, s->items[i].value) != NULL;
    if (ok && s->items[i].shown) ok = cJSON_AddStringToObject(paths, s->items[i].key, s->items[i].shown) != NULL;
  }
  char *txt = ok ? cJSON_Print(o) : NULL;
  cJSON_Delete(o);
  if (!txt) return ev_fail(EV_ERR_OOM, "out of memory writing %s", path);
  ev_status st = ev_write_file_atomic(path, txt, strlen(txt));
  free(txt);
  return st;
}

/* Appends "--key OLD (now NEW)" to msg; a file setting by its paths. */
static void describe(char *msg, size_t cap, const char *key, const char *old, const char *old_path, const ev_setting *now) {
  size_t k = strlen(msg);
  if (k >= cap - 1) return;
  const char *sep = k ? ", " : "";
  if (!old)
    snprintf(msg + k, cap - k, "%s--%s not recorded (now %s)", sep, key, now->shown ? now->shown : now->value);
  else if (!now)
    snprintf(msg + k, cap - k, "%s--%s %s (now not a setting)", sep, key, old_path ? old_path : old);
  else if (now->shown && old_path && !strcmp(old_path, now->shown))
    snprintf(msg + k, cap - k, "%s--%s %s (its content changed)", sep, key, now->shown);
  else if (now->shown && old_path)
    snprintf(msg + k, cap - k, "%s--%s %s (now %s, other content)", sep, key, old_path, now->shown);
  else
    snprintf(msg + k, cap - k, "%s--%s %s (now %s)", sep, key, old_path ? old_path : old, now->shown ? now->shown : now->value);
}

/* EV_OK when the manifest text holds s; otherwise the one-line error. */
static ev_status compare_manifest(const char *dir, const char *text, const ev_run_settings *s) {
  cJSON *o = cJSON_Parse(text);
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(o, "command"), *set = cJSON_GetObjectItemCaseSensitive(o, "settings"),
              *paths = cJSON_GetObjectItemCaseSensitive(o, "paths");
  ev_status st = EV_OK;
  if (!cJSON_IsString(cmd) || !cJSON_IsObject(set)) {
    st = ev_fail(EV_ERR_ARG, "%s/%s is not a run manifest: --overwrite starts the run over", dir, EV_RUN_MANIFEST);
  } else if (strcmp(cmd->valuestring, s->command)) {
    st = ev_fail(EV_ERR_ARG, "%s holds an `evonet %s` run, not %s's: choose another --out, or --overwrite starts over",
                 dir, cmd->valuestring, s->command);
  } else {
    char msg[1024] = "";
    int n = 0;
    for (int i = 0; i < s->n; i++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(set, s->items[i].key);
      const char *old = cJSON_IsString(v) ? v->valuestring : NULL;
      if (old && !strcmp(old, s->items[i].value)) continue;
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(paths, s->items[i].key);
      describe(msg, sizeof msg, s->items[i].key, old, cJSON_IsString(p) ? p->valuestring : NULL, &s->items[i]);
      n++;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, set) { /* recorded, no longer a setting (another evonet version) */
      bool known = false;
      for (int i = 0; i < s->n && !known; i++) known = v->string && !strcmp(v->string, s->items[i].key);
      if (!known && v->string && cJSON_IsString(v)) describe(msg, sizeof msg, v->string, v->valuestring, NULL, NULL), n++;
    }
    if (n)
      st = ev_fail(EV_ERR_ARG, "%s holds a run with other settings: %s; the same settings continue it, --overwrite starts over",
                   dir, msg);
  }
  cJSON_Delete(o);
  return st;
}

ev_status ev_run_folder_open(const char *dir, const ev_run_settings *s, const char *const *outputs, bool start_over,
                             int *swept) {
  if (s->error != EV_OK) return s->error;
  char path[4096];
  ev_path_join(path, sizeof path, dir, EV_RUN_MANIFEST);
  if (start_over) {
    /* the manifest goes first: a kill part-way leaves outputs without one, which is refused */
    if (unlink(path) != 0 && errno != ENOENT) return ev_fail(EV_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    EV_TRY(each_output(dir, outputs, true, NULL));
    EV_TRY(write_manifest(path, s));
  } else {
    void *text;
    size_t len;
    struct stat st;
    if (stat(path, &st) == 0) {
      EV_TRY(ev_read_file(path, &text, &len));
      ev_status c = compare_manifest(dir, text, s);
      free(text);
      EV_TRY(c);
    } else if (errno != ENOENT) {
      return ev_fail(EV_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    } else {
      bool found = false;
      EV_TRY(each_output(dir, outputs, false, &found));
      if (found)
        return ev_fail(EV_ERR_ARG, "%s holds a run without %s (an older evonet's), so its settings are unknown: "
                                   "--overwrite starts it over", dir, EV_RUN_MANIFEST);
      EV_TRY(write_manifest(path, s));
    }
  }
  int n = 0;
  ev_status st = sweep(dir, 0, &n);
  if (swept) *swept = n;
  return st;
}
