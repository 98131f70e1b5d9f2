/* The terminal relay: a container pty attached to stage0's own stdio (terminal + wait, no
 * console socket). See PROTOCOL.md "Terminal relay". */
#ifndef BERTH_RELAY_H
#define BERTH_RELAY_H

/* Before clone(): a socketpair. *child_end goes to the child (it sends the pty master over it
 * as over a console socket), *stage0_end stays. 0 or -1 (g_err filled). */
int relay_socketpair(int *stage0_end, int *child_end);

/* stage0, after `pid`: receive the master from sock, then copy stdin → master → stdout until
 * the pty's last slave is closed. If stdin is a terminal it is in raw mode meanwhile and
 * restored before this returns, on every path. Expects SIGWINCH blocked and handles it
 * itself (the pty gets stdin's window size). Returns 0 (also when the child died before
 * sending a master) or -1 (g_err filled). */
int relay_run(int sock);

#endif
