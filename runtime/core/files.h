/* files.h: opening a file for reading and choosing the path to replace when writing,
 * without ever blocking on or replacing something that is not a regular file.
 *
 * A FIFO opened for reading blocks until a writer comes; a save that writes a
 * temporary file and renames it over a device, a FIFO or a symlink would replace
 * that node with a regular file (as root, `save("/dev/null")` replaced /dev/null).
 */
#ifndef LAP_FILES_H
#define LAP_FILES_H

#include <stdio.h>

/* Opens path for reading ("rb") only if it is a regular file (opened without
 * blocking, checked with fstat on the open descriptor); NULL with
 * "<where> '<path>': ..." recorded otherwise. */
FILE *lap_open_regular(const char *path, const char *where);

/* The path a save should write its temporary file next to and rename over: path
 * itself when it does not exist or is a regular file, the resolved target when it
 * is a symlink to a regular file.  NULL with "<where> '<path>': ..." when path is
 * anything else (device, FIFO, socket, directory, dangling symlink).  malloc'ed. */
char *lap_replace_target(const char *path, const char *where);

/* Removes the "<target>.tmp.<pid>" files that saves of target killed part-way left
 * (those whose process no longer exists); best effort, silent. */
void lap_remove_stale_temporaries(const char *target);

#endif
