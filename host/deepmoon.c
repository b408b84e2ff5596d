/*
 * deepmoon.c -- the `deepmoon` program: a Lua 5.4 interpreter with deepmoon at hand.
 *
 * It takes the stock lua5.4 options and builds the same `arg` table, so a script runs here
 * exactly as under lua5.4 (scripts do their own `local dm = require "deepmoon"`).  The one
 * difference is the interactive prompt (host/repl.lua, compiled in), which starts with `dm`
 * (and `nn`, `optim`, `init`, `data`) already loaded, prints tables and tensors, and on a
 * terminal edits lines with readline (lineedit.c): history in ~/.deepmoon_history (or
 * $DEEPMOON_HISTORY; empty for none) and Tab completion of globals, fields and methods.
 *
 *     deepmoon [options] [script [args]]
 *
 * The deepmoon C module is loaded with require(), so this program must export the Lua API
 * to it: it links liblua5.4 and is linked with -Wl,-E; the module itself never links Lua.
 */
#define _POSIX_C_SOURCE 200809L   /* sigaction, isatty */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "heap.h"
#include "lineedit.h"

static const char *progname = "deepmoon";   /* prefix of error messages; none at the prompt */
static lua_State *running = NULL;           /* the state a Ctrl-C interrupts */

enum { ARG_ERROR = 1, ARG_I = 2, ARG_V = 4, ARG_E = 8, ARG_NOENV = 16 };

static void message (const char *msg) {
    fflush(stdout);                       /* keep the order of prompt output and errors */
    if (progname) fprintf(stderr, "%s: ", progname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

static void usage (const char *badopt) {
    if (badopt[1] == 'e' || badopt[1] == 'l')
        fprintf(stderr, "%s: '%s' needs argument\n", progname, badopt);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badopt);
    fprintf(stderr,
        "usage: %s [options] [script [args]]\n"
        "       %s convert IN OUT   (.pt/.pth <-> .safetensors)\n"
        "Available options are:\n"
        "  -e stat   execute string 'stat'\n"
        "  -i        enter interactive mode after executing 'script'\n"
        "  -l mod    require library 'mod' into global 'mod'\n"
        "  -l g=mod  require library 'mod' into global 'g'\n"
        "  -v        show version information\n"
        "  -E        ignore environment variables\n"
        "  -W        turn warnings on\n"
        "  --        stop handling options\n"
        "  -         stop handling options and execute stdin\n", progname, progname);
    fflush(stderr);
}

/* Print the message of a failed call (and pop it); returns status unchanged. */
static int report (lua_State *L, int status) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        message(msg ? msg : "(error object is not a string)");
        lua_pop(L, 1);
    }
    return status;
}

/* Message handler: make the error a string (using __tostring if it has one) plus traceback. */
static int msghandler (lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Ctrl-C cannot longjmp out of a signal handler; it sets a hook that raises the error at the
   next Lua instruction (lua_sethook is documented as async-signal safe).  A second Ctrl-C
   gets the default action, so a stuck C loop can still be killed. */
static void stop_hook (lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint (int sig) {
    (void)sig;
    lua_sethook(running, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void catch_sigint (int on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    sa.sa_flags = on ? SA_RESETHAND : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* Call the function below narg arguments with a traceback handler and Ctrl-C armed. */
static int docall (lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    running = L;
    catch_sigint(1);
    int status = lua_pcall(L, narg, nres, base);
    catch_sigint(0);
    lua_remove(L, base);
    return status;
}

static int dochunk (lua_State *L, int status) {
    if (status == LUA_OK) status = docall(L, 0, 0);
    return report(L, status);
}

static int dostring (lua_State *L, const char *s, const char *name) {
    return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l mod: global mod = require "mod";  -l g=mod: global g = require "mod" */
static int dolibrary (lua_State *L, char *spec) {
    char *eq = strchr(spec, '=');
    const char *mod = spec;
    if (eq != NULL) {
        *eq = '\0';
        mod = eq + 1;
    }
    lua_getglobal(L, "require");
    lua_pushstring(L, mod);
    int status = docall(L, 1, 1);
    if (status == LUA_OK) lua_setglobal(L, spec);
    return report(L, status);
}

/* Scan the options; *script gets the index of the script (argc when there is none). */
static int collectargs (char **argv, int *script) {
    int flags = 0, i;
    for (i = 1; argv[i] != NULL; i++) {
        *script = i;
        if (argv[i][0] != '-') return flags;                  /* the script */
        switch (argv[i][1]) {
        case '\0': return flags;                              /* "-": stdin is the script */
        case '-':
            if (argv[i][2] != '\0') return ARG_ERROR;
            *script = i + 1;
            return flags;
        case 'E': case 'W': case 'i': case 'v':
            if (argv[i][2] != '\0') return ARG_ERROR;
            if (argv[i][1] == 'E') flags |= ARG_NOENV;
            if (argv[i][1] == 'i') flags |= ARG_I | ARG_V;    /* -i implies -v, as in lua */
            if (argv[i][1] == 'v') flags |= ARG_V;
            break;
        case 'e': case 'l':
            if (argv[i][1] == 'e') flags |= ARG_E;
            if (argv[i][2] == '\0' && (argv[i + 1] == NULL || argv[i + 1][0] == '-'))
                return ARG_ERROR;
            if (argv[i][2] == '\0') i++;
            break;
        default:
            return ARG_ERROR;
        }
    }
    *script = i;
    return flags;
}

/* Run -e, -l and -W in command-line order; 0 if one failed. */
static int runargs (lua_State *L, char **argv, int script) {
    for (int i = 1; i < script; i++) {
        char opt = argv[i][1];
        if (argv[i][0] != '-' || (opt != 'e' && opt != 'l' && opt != 'W')) continue;
        if (opt == 'W') {
            lua_warning(L, "@on", 0);
            continue;
        }
        char *val = argv[i][2] != '\0' ? argv[i] + 2 : argv[++i];
        int status = opt == 'e' ? dostring(L, val, "=(command line)") : dolibrary(L, val);
        if (status != LUA_OK) return 0;
    }
    return 1;
}

/* arg[0] is the script, arg[1..] its arguments, arg[-1..] the program and its options */
static void createargtable (lua_State *L, char **argv, int argc, int script) {
    if (script == argc) script = 0;                           /* no script: arg[0] = program */
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int runscript (lua_State *L, char **argv, int argc, int script) {
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL;
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = argc - script - 1;
        luaL_checkstack(L, n + 3, "too many arguments to script");
        for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
        status = docall(L, n, 0);
    }
    return report(L, status);
}

static int handle_luainit (lua_State *L) {
    const char *name = "=LUA_INIT_5_4";
    const char *init = getenv(name + 1);
    if (init == NULL) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (init == NULL) return LUA_OK;
    if (init[0] == '@') return dochunk(L, luaL_loadfile(L, init + 1));
    return dostring(L, init, name);
}

/* ---- the interactive prompt ---------------------------------------------------------- */

/* The prompt itself is Lua (host/repl.lua, compiled in as repl_lua[] by the Makefile):
   reading statements, printing values, completion.  C gives it line input (lineedit.c) and
   a protected call that Ctrl-C can interrupt. */
#include "repl_lua.h"

/* A hook left by a Ctrl-C that came after the call had finished would fire in the prompt's
   own code; drop it (and only it). */
static void clear_stop_hook (lua_State *L) {
    if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);
}

/* host.xpcall(f, handler) -> true, results... | false, handler(error): f runs with Ctrl-C
   armed, as a script's main chunk does */
static int host_xpcall (lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_insert(L, 1);                                         /* handler, f */
    running = L;
    catch_sigint(1);
    int status = lua_pcall(L, 0, LUA_MULTRET, 1);
    catch_sigint(0);
    clear_stop_hook(L);
    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, 1);                                        /* status over the handler */
    return lua_gettop(L);
}

static void repl (lua_State *L) {
    const char *saved = progname;
    progname = NULL;                                          /* prompt errors are bare */
    int status = luaL_loadbuffer(L, repl_lua, sizeof repl_lua - 1, "@host/repl.lua");
    if (status == LUA_OK) {
        lua_newtable(L);                                      /* the host table */
        le_register(L);
        lua_pushcfunction(L, host_xpcall);
        lua_setfield(L, -2, "xpcall");
        lua_pushstring(L, saved);
        lua_setfield(L, -2, "progname");
        /* not docall: Ctrl-C is armed only while the user's code runs (host.xpcall) */
        lua_pushcfunction(L, msghandler);
        lua_insert(L, -3);
        status = lua_pcall(L, 1, 0, -3);
        lua_remove(L, -1 - (status != LUA_OK));
    }
    progname = saved;
    report(L, status);
    fflush(stdout);
}

/* ---- main ------------------------------------------------------------------------------ */

static int pmain (lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    int script = argc;
    int flags = collectargs(argv, &script);
    luaL_checkversion(L);
    if (flags == ARG_ERROR) {
        usage(argv[script]);
        return 0;
    }
    if (flags & ARG_V) printf("%s\n", LUA_COPYRIGHT);
    if (flags & ARG_NOENV) {                                  /* package lib reads this */
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    luaL_openlibs(L);
    createargtable(L, argv, argc, script);
    lua_gc(L, LUA_GCRESTART);
    lua_gc(L, LUA_GCGEN, 0, 0);                               /* as lua5.4 does */
    if (!(flags & ARG_NOENV) && handle_luainit(L) != LUA_OK) return 0;
    if (!runargs(L, argv, script)) return 0;
    if (script == 1 && script < argc && strcmp(argv[1], "convert") == 0) {
        /* "deepmoon convert IN OUT" is a command (./convert runs a script of that name) */
        if (dostring(L, "os.exit(require('deepmoon.convert').main(arg))", "=convert") != LUA_OK)
            return 0;
        lua_pushboolean(L, 1);
        return 1;
    }
    if (script < argc && runscript(L, argv, argc, script) != LUA_OK) return 0;
    if (flags & ARG_I) {
        repl(L);
    } else if (script == argc && !(flags & (ARG_E | ARG_V))) {
        if (isatty(STDIN_FILENO)) {
            printf("%s\n", LUA_COPYRIGHT);
            repl(L);
        } else if (dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK) {
            return 0;                                         /* piped input runs as a script */
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main (int argc, char **argv) {
    host_heap *heap = NULL;
    lua_State *L = host_heap_newstate(&heap);
    if (L == NULL) {
        message("cannot create state: not enough memory");
        return EXIT_FAILURE;
    }
    lua_gc(L, LUA_GCSTOP);                                    /* while building the state */
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int ok = status == LUA_OK && lua_toboolean(L, -1);
    report(L, status);
    lua_close(L);
    host_heap_free(heap);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
