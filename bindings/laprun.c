/* laprun.c: the `laprun` executable, a Lua 5.4 interpreter with the `lap` module.
 *
 * It follows the stand-alone `lua` interpreter (lua.c of Lua 5.4) for options,
 * the global `arg` table, error reporting (message + stack traceback, exit 1),
 * LUA_INIT and Ctrl-C, and adds what lap needs:
 *   - `lap` is preloaded (package.preload.lap = luaopen_lap) and required into
 *     the global `lap` before any user code runs, with lap.help and lap.fit
 *     (scripts/lap/help.lua, fit.lua);
 *   - package.path is prefixed with <dir of the executable>/scripts and
 *     <dir>/../share/lap/scripts, so `require "lap.args"` works both from the
 *     build tree and from an installed prefix;
 *   - Ctrl-C also sets lap_interrupt_requested, so long loops in the C runtime
 *     (training epochs) stop with the Lua error "interrupted";
 *   - when stdin is not a terminal and there is no script and no -e, stdin is
 *     read like the REPL (statement by statement, `return <line>` tried first so
 *     expressions print) but without prompts or banner; any failing chunk makes
 *     the exit status 1.  `laprun -` runs stdin as one chunk instead.
 *   - Ctrl-C at the interactive prompt discards the line being typed (instead
 *     of killing the process as lua does).
 *   - one of several processes of an MPI job (mpirun, srun) prefixes its error
 *     messages with "(rank r of n)" and, when MPI is initialized, ends the whole
 *     job with MPI_Abort after printing them (runtime/core/dist.h).
 *
 * Limits: locals do not survive from one REPL statement to the next (as in lua);
 * the executable's directory is found through /proc/self/exe (Linux only; when
 * it cannot be read, package.path is left alone); a second Ctrl-C while the first
 * is still pending kills the process (default action), as in lua.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "lap_bindings.h"
#include "core/cpu.h"
#include "nn/conv.h"
#include "core/dist.h"
#include "core/error.h"

#define PROGNAME "laprun"
#define PROMPT1 "> "
#define PROMPT2 ">> "
#define HISTORY_FILE ".laprun_history"
#define HISTORY_MAX 1000
#define EOFMARK "<eof>"

static lua_State *globalL = NULL;
static struct sigaction original_sigint;   /* SIGINT disposition at start-up */
static int ignore_env = 0;                 /* -E */

/* ---------------------------------------------------------------- signals */

static void set_sigint(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = 0;                 /* no SA_RESTART: interrupt blocking reads */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

static void restore_sigint(void)
{
    sigaction(SIGINT, &original_sigint, NULL);
}

/* Hook set by the SIGINT handler: stops the interpreter at the next call, return,
 * line or instruction.  When the runtime already consumed the interrupt (it
 * cleared lap_interrupt_requested and is raising "interrupted" itself), the hook
 * only removes itself so that message is the one reported. */
static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    if (!lap_interrupt_requested)
        return;
    lap_interrupt_requested = 0;
    luaL_where(L, 0);                /* position in the interrupted function */
    lua_pushliteral(L, "interrupted!");
    lua_concat(L, 2);
    lua_error(L);
}

/* SIGINT while Lua code runs: only async-signal-safe work (flag + hook). */
static void laction(int sig)
{
    int flags = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;         /* a second Ctrl-C terminates the process */
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    lap_interrupt_requested = 1;
    lua_sethook(globalL, lstop, flags, 1);
}

/* ---------------------------------------------------------- running code */

static void l_message(const char *pname, const char *msg)
{
    fflush(stdout);                  /* keep stdout/stderr interleaving readable */
    /* One of several processes (mpirun, srun): say which one failed. */
    if (pname && lap_dist_launcher_size() > 1)
        fprintf(stderr, "%s (rank %d of %d): ", pname, lap_dist_launcher_rank(), lap_dist_launcher_size());
    else if (pname)
        fprintf(stderr, "%s: ", pname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

/* Prints the error message on top of the stack (if status is an error) and pops it. */
static int report(lua_State *L, int status, const char *pname)
{
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL)
            msg = "(error message not a string)";
        l_message(pname, msg);
        lua_pop(L, 1);
    }
    return status;
}

/* Message handler for every chunk: message + traceback. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* lua_pcall with the message handler and the Ctrl-C handler in place. */
static int docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    globalL = L;
    set_sigint(laction);
    int status = lua_pcall(L, narg, nres, base);
    restore_sigint();
    if (lua_gethook(L) == lstop)     /* an interrupt that arrived too late to fire */
        lua_sethook(L, NULL, 0, 0);
    lap_interrupt_requested = 0;
    lua_remove(L, base);
    return status;
}

static int dochunk(lua_State *L, int status)
{
    if (status == LUA_OK)
        status = docall(L, 0, 0);
    return report(L, status, PROGNAME);
}

static int dofile(lua_State *L, const char *name)
{
    return dochunk(L, luaL_loadfilex(L, name, "bt"));
}

static int dostring(lua_State *L, const char *s, const char *name)
{
    return dochunk(L, luaL_loadbufferx(L, s, strlen(s), name, "t"));
}

/* 'g=mod' or 'mod': runs g = require(mod) (a '-suffix' of mod is cut from g). */
static int dolibrary(lua_State *L, char *globname)
{
    char *suffix = NULL;
    char *modname = strchr(globname, '=');
    if (modname == NULL) {
        modname = globname;
        suffix = strchr(modname, '-');
    } else {
        *modname = '\0';
        modname++;
    }
    lua_getglobal(L, "require");
    lua_pushstring(L, modname);
    int status = docall(L, 1, 1);
    if (status == LUA_OK) {
        if (suffix != NULL)
            *suffix = '\0';
        lua_setglobal(L, globname);
    }
    return report(L, status, PROGNAME);
}

/* ---------------------------------------------------------- start-up */

static void print_version(void)
{
    char report[1024], conv[160];
    lap_system_report(report, sizeof report);
    lap_conv_report(conv, sizeof conv);
    printf("%s %s (%s)\n%s%s", PROGNAME, LAP_VERSION, LUA_RELEASE, report, conv);
    fflush(stdout);
}

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: %s [options] [script [args]]\n"
            "Runs Lua 5.4 code with the lap module loaded as the global 'lap'.  Without a\n"
            "script or -e, reads stdin: a REPL on a terminal, otherwise statement by\n"
            "statement without prompts (expressions print their values).  A script name\n"
            "without '/' that is not in the current directory is looked up (also without\n"
            "'.lua') in the experiments folder: <laprun dir>/experiments in a checkout,\n"
            "<laprun dir>/../share/lap/experiments when installed.\n"
            "Options:\n"
            "  -e stat        execute string 'stat' (may be given several times)\n"
            "  -i             enter interactive mode after executing 'script'\n"
            "  -l mod         require library 'mod' into global 'mod'\n"
            "  -l g=mod       require library 'mod' into global 'g'\n"
            "  -v, --version  show version information\n"
            "  -h, --help     show this help and exit\n"
            "  --list         list the experiments (name and summary) and exit\n"
            "  -E             ignore environment variables (LUA_INIT, LUA_PATH, LUA_CPATH)\n"
            "  -W             turn warnings on\n"
            "  --             stop handling options\n"
            "  -              stop handling options and execute stdin as one chunk\n"
            "Environment: LUA_INIT_5_4 or LUA_INIT (code, or @file) runs before the options.\n"
            "require also searches <laprun dir>/scripts and <laprun dir>/../share/lap/scripts.\n",
            PROGNAME);
}

static void usage_error(const char *badoption)
{
    if ((badoption[1] == 'e' || badoption[1] == 'l') && badoption[2] == '\0')
        fprintf(stderr, "%s: '%s' needs argument\n", PROGNAME, badoption);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", PROGNAME, badoption);
    print_usage(stderr);
}

/* arg[0] = script (or the interpreter when there is none), arguments after it at
 * positive indices, the interpreter and the options at negative ones. */
static void createargtable(lua_State *L, char **argv, int argc, int script)
{
    int narg = argc - (script + 1);
    lua_createtable(L, narg > 0 ? narg : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int pushargs(lua_State *L)
{
    if (lua_getglobal(L, "arg") != LUA_TTABLE)
        luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    int i;
    for (i = 1; i <= n; i++)
        lua_rawgeti(L, -i, i);
    lua_remove(L, -i);
    return n;
}

static int handle_script(lua_State *L, char **argv)
{
    const char *fname = argv[0];
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
        fname = NULL;                /* stdin */
    int status = luaL_loadfilex(L, fname, "bt");
    if (status == LUA_OK) {
        int n = pushargs(L);
        status = docall(L, n, LUA_MULTRET);
    }
    return report(L, status, PROGNAME);
}

enum { HAS_ERROR = 1, HAS_I = 2, HAS_V = 4, HAS_E = 8, HAS_BIGE = 16, HAS_HELP = 32, HAS_LIST = 64 };

/* Scans the options.  *first: index of the bad option on HAS_ERROR, else the
 * index of the script name, 0 when there is none (-1 without any argv[0]). */
static int collectargs(char **argv, int *first)
{
    int args = 0;
    if (argv[0] == NULL) {
        *first = -1;
        return 0;
    }
    for (int i = 1; argv[i] != NULL; i++) {
        *first = i;
        const char *a = argv[i];
        if (a[0] != '-')
            return args;
        switch (a[1]) {
        case '-':
            if (strcmp(a, "--help") == 0) {
                args |= HAS_HELP;
                break;
            }
            if (strcmp(a, "--version") == 0) {
                args |= HAS_V;
                break;
            }
            if (strcmp(a, "--list") == 0) {
                args |= HAS_LIST;
                break;
            }
            if (a[2] != '\0')
                return HAS_ERROR;
            *first = argv[i + 1] != NULL ? i + 1 : 0;
            return args;
        case '\0':
            return args;             /* '-': the script is stdin */
        case 'E':
        case 'W':
        case 'h':
        case 'i':
        case 'v':
            if (a[2] != '\0')
                return HAS_ERROR;
            args |= a[1] == 'E' ? HAS_BIGE : a[1] == 'h' ? HAS_HELP : a[1] == 'i' ? HAS_I
                  : a[1] == 'v' ? HAS_V : 0;
            break;
        case 'e':
            args |= HAS_E;
            /* FALLTHROUGH */
        case 'l':
            if (a[2] == '\0') {
                i++;
                if (argv[i] == NULL || argv[i][0] == '-') {
                    *first = i - 1;
                    return HAS_ERROR;
                }
            }
            break;
        default:
            return HAS_ERROR;
        }
    }
    *first = 0;
    return args;
}

/* Runs -e, -l and -W in order.  Returns 0 if some code failed. */
static int runargs(lua_State *L, char **argv, int n)
{
    lua_warning(L, "@off", 0);
    for (int i = 1; i < n; i++) {
        int option = argv[i][1];
        if (option == 'e' || option == 'l') {
            char *extra = argv[i] + 2;
            if (*extra == '\0')
                extra = argv[++i];
            int status = option == 'e' ? dostring(L, extra, "=(command line)") : dolibrary(L, extra);
            if (status != LUA_OK)
                return 0;
        } else if (option == 'W') {
            lua_warning(L, "@on", 0);
        }
    }
    return 1;
}

static const char *l_getenv(const char *name)
{
    return ignore_env ? NULL : getenv(name);
}

static int handle_luainit(lua_State *L)
{
    const char *name = "=LUA_INIT" LUA_VERSUFFIX;
    const char *init = l_getenv(name + 1);
    if (init == NULL) {
        name = "=LUA_INIT";
        init = l_getenv(name + 1);
    }
    if (init == NULL)
        return LUA_OK;
    if (init[0] == '@')
        return dofile(L, init + 1);
    return dostring(L, init, name);
}

/* The directory of the executable (/proc/self/exe without the file name) into
 * dir[PATH_MAX]; 0 when it cannot be read. */
static int exe_dir(char *dir)
{
    ssize_t n = readlink("/proc/self/exe", dir, PATH_MAX - 1);
    if (n <= 0)
        return 0;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    return 1;
}

/* The experiments folder into dir[PATH_MAX]: <exe dir>/experiments in a checkout,
 * <exe dir>/../share/lap/experiments when installed; 0 when neither exists. */
static int experiments_dir(char *dir)
{
    char exe[PATH_MAX];
    if (!exe_dir(exe))
        return 0;
    static const char *const candidates[] = {"%s/experiments", "%s/../share/lap/experiments"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        struct stat st;
        int n = snprintf(dir, PATH_MAX, candidates[i], exe);
        if (n > 0 && n < PATH_MAX && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 1;
    }
    return 0;
}

/* `laprun circles.lua` from anywhere: a script name without a '/' that is not a
 * file in the current directory is taken from the experiments folder (also
 * without its ".lua").  Returns the path to run (name itself when not found there,
 * so the error names what the user typed). */
static const char *find_script(const char *name)
{
    static char path[PATH_MAX];
    char dir[PATH_MAX];
    if (strchr(name, '/') != NULL || access(name, F_OK) == 0 || !experiments_dir(dir))
        return name;
    static const char *const forms[] = {"%s/%s", "%s/%s.lua"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        int n = snprintf(path, sizeof path, forms[i], dir, name);
        if (n > 0 && n < (int)sizeof path && access(path, R_OK) == 0)
            return path;
    }
    return name;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* laprun --list: every .lua file of the experiments folder with the first line of its header
 * comment ("-- experiments/circles.lua: the paper's 2-D experiment" gives
 * "circles.lua  the paper's 2-D experiment"). */
static int list_experiments(void)
{
    char dir[PATH_MAX];
    if (!experiments_dir(dir)) {
        fprintf(stderr, "%s: no experiments folder (looked in <laprun dir>/experiments and "
                        "<laprun dir>/../share/lap/experiments)\n", PROGNAME);
        return 0;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "%s: cannot open %s: %s\n", PROGNAME, dir, strerror(errno));
        return 0;
    }
    char *names[256];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL && count < sizeof names / sizeof names[0]) {
        size_t len = strlen(entry->d_name);
        if (len > 4 && strcmp(entry->d_name + len - 4, ".lua") == 0)
            names[count++] = strdup(entry->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof names[0], by_name);
    printf("experiments in %s (run one with: %s NAME [options], NAME --help for its options)\n", dir, PROGNAME);
    for (size_t i = 0; i < count; i++) {
        if (names[i] == NULL)
            continue;
        char path[PATH_MAX + 256], line[512] = "";
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(line, sizeof line, f) == NULL)
                line[0] = '\0';
            fclose(f);
        }
        line[strcspn(line, "\r\n")] = '\0';
        const char *summary = line;
        if (strncmp(summary, "--", 2) == 0)
            summary += 2;
        summary += strspn(summary, " ");
        const char *colon = strstr(summary, ": ");
        if (colon != NULL && strstr(summary, names[i]) != NULL && strstr(summary, names[i]) < colon)
            summary = colon + 2;     /* drop the "experiments/name.lua: " prefix */
        printf("  %-26s %s\n", names[i], summary);
        free(names[i]);
    }
    return 1;
}

/* package.path = <dir>/scripts/?.lua;<dir>/scripts/?/init.lua;
 *   <dir>/../share/lap/scripts/?.lua;<dir>/../share/lap/scripts/?/init.lua;<old> */
static void setup_path(lua_State *L)
{
    char exe[PATH_MAX];
    if (!exe_dir(exe))
        return;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *old = lua_tostring(L, -1);
    lua_pushfstring(L,
                    "%s/scripts/?.lua;%s/scripts/?/init.lua;"
                    "%s/../share/lap/scripts/?.lua;%s/../share/lap/scripts/?/init.lua;%s",
                    exe, exe, exe, exe, old ? old : "");
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

/* package.preload.lap = luaopen_lap; lap = require "lap" */
static int open_lap(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_lap);
    lua_setfield(L, -2, "lap");
    lua_pop(L, 2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lap");
    int status = docall(L, 1, 1);
    if (status == LUA_OK) {
        lua_setglobal(L, "lap");
        /* lap.help and the global help() (scripts/lap/help.lua), lap.fit
         * (scripts/lap/fit.lua): without the scripts directory laprun still
         * works, just without them. */
        static const char *const lua_parts[] = {"lap.help", "lap.fit"};
        for (size_t i = 0; i < sizeof lua_parts / sizeof lua_parts[0]; i++) {
            lua_getglobal(L, "require");
            lua_pushstring(L, lua_parts[i]);
            if (lua_pcall(L, 1, 0, 0) != LUA_OK)
                lua_pop(L, 1);
        }
    }
    return report(L, status, PROGNAME);
}

/* ---------------------------------------------------------- the REPL */

typedef struct repl {
    int tty;                 /* readline + prompts + history, else getline, silent */
    int failed;              /* some chunk failed (reported in non-tty mode) */
    int warned_local;
    char *buf;               /* getline buffer */
    size_t cap;
    char *history;           /* history file path or NULL */
} repl;

enum { LINE_EOF = 0, LINE_OK = 1, LINE_INTERRUPTED = 2 };
#define STATUS_NOINPUT (-1)
#define STATUS_SKIP (-2)

static volatile sig_atomic_t prompt_interrupted = 0;

static void prompt_sigint(int sig)
{
    (void)sig;
    prompt_interrupted = 1;
}

/* Called by readline while it waits for input and after it handled a signal:
 * after a Ctrl-C, empties the line and ends it (pushline then discards it). */
static int prompt_signal_hook(void)
{
    if (prompt_interrupted) {
        rl_replace_line("", 0);
        rl_done = 1;
    }
    return 0;
}

static const char *get_prompt(lua_State *L, int firstline)
{
    if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TNIL)
        return firstline ? PROMPT1 : PROMPT2;
    const char *p = luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    return p;
}

/* Reads one line and pushes it (without its newline). */
static int pushline(lua_State *L, repl *r, int firstline)
{
    if (r->tty) {
        const char *prompt = get_prompt(L, firstline);
        prompt_interrupted = 0;
        set_sigint(prompt_sigint);
        char *b = readline(prompt);
        restore_sigint();
        lua_pop(L, 1);               /* prompt */
        if (prompt_interrupted) {
            free(b);
            prompt_interrupted = 0;      /* readline already moved to a new line */
            return LINE_INTERRUPTED;
        }
        if (b == NULL)
            return LINE_EOF;
        lua_pushstring(L, b);
        free(b);
        return LINE_OK;
    }
    ssize_t n = getline(&r->buf, &r->cap, stdin);
    if (n < 0)
        return LINE_EOF;
    if (n > 0 && r->buf[n - 1] == '\n')
        n--;
    lua_pushlstring(L, r->buf, (size_t)n);
    return LINE_OK;
}

/* Compiles the line on top as 'return <line>;'; on success replaces the line. */
static int addreturn(lua_State *L)
{
    const char *line = lua_tostring(L, -1);
    const char *retline = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbufferx(L, retline, strlen(retline), "=stdin", "t");
    if (status == LUA_OK)
        lua_remove(L, -2);
    else
        lua_pop(L, 2);
    return status;
}

static int incomplete(lua_State *L, int status)
{
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        size_t lmark = sizeof EOFMARK - 1;
        if (lmsg >= lmark && strcmp(msg + lmsg - lmark, EOFMARK) == 0)
            return 1;
    }
    return 0;
}

static void checklocal(repl *r, const char *line)
{
    line += strspn(line, " \t");
    if (strncmp(line, "local", 5) != 0 || (line[5] != ' ' && line[5] != '\t'))
        return;
    if (r->tty) {
        fprintf(stderr, "warning: locals do not survive across lines in interactive mode\n");
    } else if (!r->warned_local) {
        r->warned_local = 1;
        fprintf(stderr, "%s: warning: locals do not survive across statements read from stdin"
                        " (use '%s -' to run stdin as one chunk)\n", PROGNAME, PROGNAME);
    }
}

/* Adds continuation lines until the statement is complete (or not incomplete). */
static int multiline(lua_State *L, repl *r)
{
    size_t len;
    const char *line = lua_tolstring(L, 1, &len);
    checklocal(r, line);
    for (;;) {
        int status = luaL_loadbufferx(L, line, len, "=stdin", "t");
        if (!incomplete(L, status))
            return status;
        int got = pushline(L, r, 0);
        if (got == LINE_EOF)
            return status;           /* report the incomplete statement */
        if (got == LINE_INTERRUPTED) {
            lua_settop(L, 0);
            return STATUS_SKIP;
        }
        lua_remove(L, -2);           /* the error message */
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
        line = lua_tolstring(L, 1, &len);
    }
}

static void saveline(repl *r, const char *line)
{
    if (!r->tty || line[0] == '\0')
        return;
    add_history(line);
    if (r->history)
        append_history(1, r->history);
}

/* Leaves the compiled chunk (or the error message) on an otherwise empty stack. */
static int loadline(lua_State *L, repl *r)
{
    lua_settop(L, 0);
    int got = pushline(L, r, 1);
    if (got == LINE_EOF)
        return STATUS_NOINPUT;
    if (got == LINE_INTERRUPTED)
        return STATUS_SKIP;
    int status = addreturn(L);
    if (status != LUA_OK)
        status = multiline(L, r);
    if (status == STATUS_SKIP)
        return status;
    saveline(r, lua_tostring(L, 1));
    lua_remove(L, 1);
    return status;
}

/* Prints the values on the stack with the global 'print'. */
static void l_print(lua_State *L, repl *r)
{
    int n = lua_gettop(L);
    if (n == 0)
        return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (docall(L, n, 0) != LUA_OK) {
        l_message(r->tty ? NULL : PROGNAME,
                  lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
        r->failed = 1;
    }
}

static char *history_path(void)
{
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0')
        return NULL;
    size_t n = strlen(home) + sizeof HISTORY_FILE + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s", home, HISTORY_FILE);
    return path;
}

/* Returns 0 when a chunk failed in non-interactive mode. */
static int doREPL(lua_State *L, int tty)
{
    repl r = { .tty = tty };
    if (tty) {
        rl_readline_name = PROGNAME;
        /* With an event hook readline polls its input, so the hook can end the line
         * as soon as Ctrl-C is seen (the signal hook alone waits for another key). */
        rl_event_hook = prompt_signal_hook;
        rl_signal_event_hook = prompt_signal_hook;
        using_history();
        r.history = history_path();
        if (r.history) {
            if (read_history(r.history) == ENOENT)
                write_history(r.history);   /* create it so append_history works */
        }
    }
    int status;
    while ((status = loadline(L, &r)) != STATUS_NOINPUT) {
        if (status == STATUS_SKIP)
            continue;
        if (status == LUA_OK)
            status = docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK) {
            l_print(L, &r);
        } else {
            report(L, status, tty ? NULL : PROGNAME);
            r.failed = 1;
        }
    }
    lua_settop(L, 0);
    if (tty) {
        fputc('\n', stdout);
        fflush(stdout);
        if (r.history)
            history_truncate_file(r.history, HISTORY_MAX);
        clear_history();
    }
    free(r.history);
    free(r.buf);
    return tty || !r.failed;
}

static void print_banner(void)
{
    printf("lap %s (Lua 5.4) -- residual networks under the least action principle. "
           "help: lap.help(), exit: Ctrl-D\n", LAP_VERSION);
    fflush(stdout);
}

/* ---------------------------------------------------------- main */

static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    int script = 0;
    int args = collectargs(argv, &script);
    int optlim = script > 0 ? script : argc;
    luaL_checkversion(L);
    if (args == HAS_ERROR) {
        usage_error(argv[script]);
        return 0;
    }
    if (args & HAS_HELP) {
        print_usage(stdout);
        lua_pushboolean(L, 1);
        return 1;
    }
    if (args & HAS_LIST) {
        lua_pushboolean(L, list_experiments());
        return 1;
    }
    if (args & HAS_V)
        print_version();
    if (script > 0 && !(strcmp(argv[script], "-") == 0 && strcmp(argv[script - 1], "--") != 0))
        argv[script] = (char *)find_script(argv[script]);
    if (args & HAS_BIGE) {
        ignore_env = 1;
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    luaL_openlibs(L);
    createargtable(L, argv, argc, script);
    lua_gc(L, LUA_GCRESTART);
    lua_gc(L, LUA_GCGEN, 0, 0);
    setup_path(L);
    if (open_lap(L) != LUA_OK)
        return 0;
    if (handle_luainit(L) != LUA_OK)
        return 0;
    if (!runargs(L, argv, optlim))
        return 0;
    if (script > 0 && handle_script(L, argv + script) != LUA_OK)
        return 0;
    int ok = 1;
    if (args & HAS_I) {
        int tty = isatty(0);
        if (tty)
            print_banner();
        ok = doREPL(L, tty);
    } else if (script < 1 && !(args & (HAS_E | HAS_V))) {
        int tty = isatty(0);
        if (tty)
            print_banner();
        ok = doREPL(L, tty);
    }
    lua_pushboolean(L, ok);
    return 1;
}

int main(int argc, char **argv)
{
    /* Before anything else: re-executes with OPENBLAS_CORETYPE set when OpenBLAS
     * picked weaker kernels than this CPU runs (cpu.h). */
    lap_blas_check_core(argv);
    sigaction(SIGINT, NULL, &original_sigint);
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        l_message(argv[0], "cannot create state: not enough memory");
        return EXIT_FAILURE;
    }
    lua_gc(L, LUA_GCSTOP);
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int result = lua_toboolean(L, -1);
    report(L, status, PROGNAME);
    /* A failed rank of an MPI job (its message and traceback printed above) takes
     * the job down: finalizing alone would leave the others waiting forever. */
    if (!(result && status == LUA_OK))
        lap_dist_abort(EXIT_FAILURE);
    lua_close(L);
    return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
