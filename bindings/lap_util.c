/* lap_util.c: small operating-system helpers for the Lua side.
 *
 *   lap.append_line(path, line)   append line (plus "\n" when missing) to path,
 *                                 created if needed, then fsync: a record either is
 *                                 in the file whole or the call raised an error.
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

static int lap_append_line(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t length;
    const char *line = luaL_checklstring(L, 2, &length);
    int needs_newline = length == 0 || line[length - 1] != '\n';
    if (memchr(line, '\n', length) && memchr(line, '\n', length) != line + length - 1)
        return luaL_error(L, "lap.append_line: the line for '%s' contains a newline before its end", path);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return luaL_error(L, "lap.append_line: cannot open '%s': %s", path, strerror(errno));
    /* One write for the whole record, so concurrent appenders do not interleave. */
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    luaL_addlstring(&buffer, line, length);
    if (needs_newline) luaL_addchar(&buffer, '\n');
    luaL_pushresult(&buffer);
    size_t total;
    const char *record = lua_tolstring(L, -1, &total);
    if (write_all(fd, record, total) != 0) {
        int saved = errno;
        close(fd);
        return luaL_error(L, "lap.append_line: cannot write '%s': %s", path, strerror(saved));
    }
    if (fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        return luaL_error(L, "lap.append_line: cannot fsync '%s': %s", path, strerror(saved));
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
