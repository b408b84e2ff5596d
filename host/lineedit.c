/*
 * lineedit.c -- line input for the deepmoon prompt: GNU readline on a terminal when built
 * with it, stdio otherwise.  See lineedit.h for the functions Lua sees.
 *
 * Readline runs through its callback interface (as Python's prompt does) so that Ctrl-C can
 * abandon the line and give a fresh prompt instead of killing the program: our own SIGINT
 * handler only sets a flag, select() returns EINTR, and the loop cleans readline up.
 */
#define _POSIX_C_SOURCE 200809L   /* sigaction, select, strdup, isatty */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"

#include "lineedit.h"

#ifndef DM_READLINE
#define DM_READLINE 0
#endif

#if DM_READLINE
#include <readline/readline.h>
#include <readline/history.h>
#endif

static volatile sig_atomic_t got_sigint, got_sigwinch;

static void on_signal (int sig) {
    if (sig == SIGINT) got_sigint = 1;
    else got_sigwinch = 1;
}

/* Catch sig without SA_RESTART, so a blocked read or select returns EINTR. */
static void trap (int sig, struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, old);
}

/* ---- plain input -------------------------------------------------------------------- */

/* Prompt on stdout, then push one line from stdin (any length) without its newline. */
static int read_plain (lua_State *L, const char *prompt) {
    fputs(prompt, stdout);
    fflush(stdout);
    int tty = isatty(STDIN_FILENO);
    struct sigaction old;
    if (tty) {
        got_sigint = 0;
        trap(SIGINT, &old);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char buf[512];
    int any = 0, interrupted = 0;
    for (;;) {
        if (fgets(buf, sizeof buf, stdin) == NULL) {
            if (tty && got_sigint && ferror(stdin) && errno == EINTR) interrupted = 1;
            clearerr(stdin);
            break;
        }
        size_t len = strlen(buf);
        int eol = len > 0 && buf[len - 1] == '\n';
        luaL_addlstring(&b, buf, eol ? len - 1 : len);
        any = 1;
        if (eol) break;
    }
    if (tty) sigaction(SIGINT, &old, NULL);
    luaL_pushresult(&b);
    if (interrupted) {
        lua_pop(L, 1);
        fputs("\n", stdout);
        fflush(stdout);
        lua_pushboolean(L, 0);
    } else if (!any) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    return 1;
}

/* ---- readline ----------------------------------------------------------------------- */

#if DM_READLINE

static lua_State *complete_L;             /* the state the completer lives in */
static int completer = LUA_NOREF;         /* registry reference to the Lua function */
static char *history_path;                /* lines are appended here (malloc'd) */
static char *line_read;                   /* what the line handler got */
static int line_done;

static void on_line (char *line) {
    line_read = line;
    line_done = 1;
    rl_callback_handler_remove();
}

static char *common_prefix (char **m, int n) {
    size_t len = strlen(m[0]);
    for (int i = 1; i < n; i++) {
        size_t k = 0;
        while (k < len && m[i][k] == m[0][k]) k++;
        len = k;
    }
    return strndup(m[0], len);
}

/* Tab: ask the Lua completer for the replacements of the word before the cursor.  Readline
   wants matches[0] = what to insert (their common prefix), then the matches, then NULL. */
static char **attempt_completion (const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1;     /* never fall back to file names */
    rl_completion_suppress_append = 1;    /* the completer adds "(" itself where it fits */
    lua_State *L = complete_L;
    if (L == NULL || completer == LUA_NOREF) return NULL;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, completer);
    lua_pushstring(L, text);
    lua_pushlstring(L, rl_line_buffer, (size_t)start);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        lua_settop(L, top);
        return NULL;
    }
    int n = (int)lua_rawlen(L, -1);
    char **m = n > 0 ? calloc((size_t)n + 2, sizeof *m) : NULL;
    int k = 0;
    for (int i = 1; m != NULL && i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (s != NULL && (m[k + 1] = strdup(s)) != NULL) k++;
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    if (k == 0) {
        free(m);
        return NULL;
    }
    if (k == 1) {
        m[0] = m[1];
        m[1] = NULL;
    } else if ((m[0] = common_prefix(m + 1, k)) == NULL) {
        for (int i = 1; i <= k; i++) free(m[i]);
        free(m);
        return NULL;
    }
    return m;
}

/* Tab Tab lists the matches without the part they share up to the last '.' or ':'
   ("zeros  zeros_like", not "dm.zeros  dm.zeros_like"). */
static void display_matches (char **matches, int n, int maxlen) {
    const char *p = matches[0], *cut = matches[0];
    for (; *p; p++)
        if (*p == '.' || *p == ':') cut = p + 1;
    size_t skip = (size_t)(cut - matches[0]);
    char **shown = malloc(((size_t)n + 2) * sizeof *shown);
    if (shown == NULL) {
        rl_display_match_list(matches, n, maxlen);
    } else {
        int width = 0;
        for (int i = 0; i <= n; i++) {
            shown[i] = matches[i] + (strlen(matches[i]) >= skip ? skip : 0);
            int w = (int)strlen(shown[i]);
            if (i > 0 && w > width) width = w;
        }
        shown[n + 1] = NULL;
        rl_display_match_list(shown, n, width);
        free(shown);
    }
    rl_forced_update_display();
}

static int read_readline (lua_State *L, const char *prompt) {
    struct sigaction oldint, oldwinch;
    got_sigint = got_sigwinch = 0;
    trap(SIGINT, &oldint);
    trap(SIGWINCH, &oldwinch);
    complete_L = L;
    line_read = NULL;
    line_done = 0;
    int interrupted = 0, fd = fileno(rl_instream ? rl_instream : stdin);
    fflush(stdout);
    rl_callback_handler_install(prompt, on_line);
    while (!line_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = select(fd + 1, &fds, NULL, NULL, NULL);
        if (got_sigwinch) {
            got_sigwinch = 0;
            rl_resize_terminal();
        }
        if (got_sigint) {
            interrupted = 1;
            rl_echo_signal_char(SIGINT);
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_cleanup_after_signal();
            rl_callback_handler_remove();
            break;
        }
        if (r < 0 && errno != EINTR) {             /* stdin is gone: end of input */
            rl_callback_handler_remove();
            break;
        }
        if (r > 0) rl_callback_read_char();
    }
    sigaction(SIGINT, &oldint, NULL);
    sigaction(SIGWINCH, &oldwinch, NULL);
    complete_L = NULL;
    if (interrupted) {
        fputs("\n", stdout);
        fflush(stdout);
        lua_pushboolean(L, 0);
    } else if (line_read == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, line_read);
        free(line_read);
    }
    return 1;
}

static int le_add_history (lua_State *L) {
    const char *line = luaL_checkstring(L, 1);
    HIST_ENTRY *last = history_get(history_base + history_length - 1);
    if (last != NULL && strcmp(last->line, line) == 0) return 0;   /* a repeat: once */
    add_history(line);
    if (history_path != NULL && append_history(1, history_path) != 0)
        write_history(history_path);              /* the file did not exist yet */
    return 0;
}

static int le_history_file (lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, 1000);
    free(history_path);
    history_path = strdup(path);
    if (max > 0) history_truncate_file(path, (int)max);
    lua_pushboolean(L, read_history(path) == 0);
    return 1;
}

static int le_set_completer (lua_State *L) {
    luaL_unref(L, LUA_REGISTRYINDEX, completer);
    completer = LUA_NOREF;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TFUNCTION);
        lua_settop(L, 1);
        completer = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return 0;
}

static void setup_readline (void) {
    rl_readline_name = "deepmoon";                /* for $if deepmoon in ~/.inputrc */
    rl_catch_signals = 0;                         /* SIGINT and SIGWINCH are ours */
    rl_catch_sigwinch = 0;
    /* '.' and ':' are not breaks, so Tab sees the whole chain "model.fc1.we" */
    rl_completer_word_break_characters = " \t\n\"\\'`@$><=;|&{(+-*/%^~#,[]})";
    rl_attempted_completion_function = attempt_completion;
    rl_completion_display_matches_hook = display_matches;
    using_history();
}

#endif /* DM_READLINE */

/* ---- what Lua sees ------------------------------------------------------------------ */

static int use_readline = -1;              /* decided on first use: readline and a terminal */

static int le_readline (lua_State *L) {
    const char *prompt = luaL_optstring(L, 1, "> ");
#if DM_READLINE
    if (use_readline) return read_readline(L, prompt);
#endif
    return read_plain(L, prompt);
}

static int le_nothing (lua_State *L) {
    (void)L;
    return 0;
}

void le_register (lua_State *L) {
    if (use_readline < 0) {
        use_readline = DM_READLINE && isatty(STDIN_FILENO);
#if DM_READLINE
        if (use_readline) setup_readline();
#endif
    }
    lua_pushcfunction(L, le_readline);
    lua_setfield(L, -2, "readline");
#if DM_READLINE
    if (use_readline) {
        luaL_Reg fns[] = {
            { "add_history", le_add_history }, { "history_file", le_history_file },
            { "set_completer", le_set_completer }, { NULL, NULL }
        };
        luaL_setfuncs(L, fns, 0);
    }
#endif
    if (!use_readline) {
        luaL_Reg fns[] = {
            { "add_history", le_nothing }, { "history_file", le_nothing },
            { "set_completer", le_nothing }, { NULL, NULL }
        };
        luaL_setfuncs(L, fns, 0);
    }
    lua_pushstring(L, use_readline ? "readline" : "plain");
    lua_setfield(L, -2, "line_editing");
}
