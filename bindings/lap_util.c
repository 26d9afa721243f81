/* lap_util.c: small operating-system helpers for the Lua side.
 *
 *   lap.append_line(path, line)   append line (plus "\n" when missing) to path,
 *                                 created if needed, then fsync: a record either is
 *                                 in the file whole or the call raised an error.
 *                                 A failed write (a full disk) is truncated away, and
 *                                 a record a killed process left without its newline
 *                                 is removed before the next one is appended; appends
 *                                 hold an exclusive flock, so they do not interleave.
 *
 *   lap.claim(path)               create the file path if it does not exist yet:
 *                                 true for the one caller that created it, false
 *                                 for every other (O_CREAT | O_EXCL).
 *
 * Used by lap.experiment to write one JSON record per finished instance, so that a
 * killed sweep loses at most the instances in flight, and to hand instances to
 * whichever worker process is free.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lap_bindings.h"

static int write_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

/* The size of the file up to the end of its last complete line (0 if none). */
static off_t complete_size(int fd, off_t size)
{
    char chunk[4096];
    off_t end = size;
    while (end > 0) {
        off_t start = end > (off_t)sizeof chunk ? end - (off_t)sizeof chunk : 0;
        ssize_t got = pread(fd, chunk, (size_t)(end - start), start);
        if (got != end - start)
            return -1;
        for (ssize_t i = got - 1; i >= 0; i--)
            if (chunk[i] == '\n')
                return start + i + 1;
        end = start;
    }
    return 0;
}

/* Raises "lap.append_line: cannot <what> '<path>': <errno>" after closing fd. */
static int fail(lua_State *L, int fd, const char *what, const char *path)
{
    int saved = errno;
    close(fd);
    return luaL_error(L, "lap.append_line: cannot %s '%s': %s", what, path, strerror(saved));
}

static int lap_append_line(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t length;
    const char *line = luaL_checklstring(L, 2, &length);
    int needs_newline = length == 0 || line[length - 1] != '\n';
    if (memchr(line, '\n', length) && memchr(line, '\n', length) != line + length - 1)
        return luaL_error(L, "lap.append_line: the line for '%s' contains a newline before its end", path);
    /* One write for the whole record (built before the file is open: a Lua error
     * cannot leak the descriptor). */
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    luaL_addlstring(&buffer, line, length);
    if (needs_newline) luaL_addchar(&buffer, '\n');
    luaL_pushresult(&buffer);
    size_t total;
    const char *record = lua_tolstring(L, -1, &total);
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return luaL_error(L, "lap.append_line: cannot open '%s': %s", path, strerror(errno));
    struct stat info;
    if (flock(fd, LOCK_EX) != 0) return fail(L, fd, "lock", path);
    if (fstat(fd, &info) != 0) return fail(L, fd, "stat", path);
    if (!S_ISREG(info.st_mode)) {
        close(fd);
        return luaL_error(L, "lap.append_line: '%s' is not a regular file", path);
    }
    /* A record cut short by a killed writer (or a failed write of a version that did
     * not truncate) would run into this one: it goes. */
    off_t size = complete_size(fd, info.st_size);
    if (size < 0) return fail(L, fd, "read", path);
    if (size != info.st_size && ftruncate(fd, size) != 0) return fail(L, fd, "truncate", path);
    if (write_all(fd, record, total) != 0 || fsync(fd) != 0) {
        int saved = errno;
        /* Back to the last complete record: a partial one must not stay (disk full). */
        if (ftruncate(fd, size) == 0)
            fsync(fd);
        close(fd);
        return luaL_error(L, "lap.append_line: cannot write '%s': %s (the file is left as it was)", path,
                          strerror(saved));
    }
    if (close(fd) != 0) return luaL_error(L, "lap.append_line: cannot close '%s': %s", path, strerror(errno));
    return 0;
}

static int lap_claim(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST) {
            lua_pushboolean(L, 0);
            return 1;
        }
        return luaL_error(L, "lap.claim: cannot create '%s': %s", path, strerror(errno));
    }
    close(fd);
    lua_pushboolean(L, 1);
    return 1;
}

void lapL_open_util(lua_State *L)
{
    lua_pushcfunction(L, lap_claim);
    lua_setfield(L, -2, "claim");
    lua_pushcfunction(L, lap_append_line);
    lua_setfield(L, -2, "append_line");
}
