/*
 * lineedit.h -- line input for the deepmoon prompt.
 *
 * With GNU readline compiled in (DM_READLINE=1, which the Makefile sets when libreadline is
 * there) and a terminal on stdin, lines are read with readline: editing, history kept in a
 * file, and Tab asking a Lua function for completions.  Otherwise lines come from stdio, so
 * the prompt can be driven through a pipe.  Ctrl-C at the prompt abandons the line.
 */
#ifndef DM_LINEEDIT_H
#define DM_LINEEDIT_H

#include "lua.h"

/* Add the line functions to the table on top of the stack (see lineedit.c for each):
 *   readline(prompt)        -> line without its newline; nil at end of input; false on Ctrl-C
 *   add_history(line)       remembered for Up, and appended to the history file if one is set
 *   history_file(path, max) load it (trimmed to max entries); later lines are appended
 *   set_completer(fn)       fn(word, before) -> list of replacements for word, on Tab
 * and the field line_editing = "readline" or "plain": what readline() uses in this process. */
void le_register(lua_State *L);

#endif
