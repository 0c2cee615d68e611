/* The demo app behind `make run` (docs/demo.md): what the parts share.
 *
 * Everything runs on one loop (one thread): the chat room's member list,
 * the upload list and the counters are touched by handlers of that loop
 * only, so they need no lock. A handler runs in its connection's task and
 * may suspend; the callback-style code (main.c's /time) runs in callbacks
 * of the same loop. */
#ifndef CIO_DEMO_APP_H
#define CIO_DEMO_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cio.h>
#include <cio/http.h>

struct demo_uploads; /* upload.c */
struct demo_room;    /* chat.c */

struct demo {
    const char *static_dir; /* index.html, app.js, style.css */
    char upload_dir[4096];  /* where uploaded files are stored */
    bool own_upload_dir;    /* made by us (mkdtemp): removed at exit */
    struct demo_uploads *uploads;
    struct demo_room *room;
};

/* upload.c: POST /upload (multipart, streamed to disk, SHA-256 on the
 * way), GET /uploads (the list as JSON), GET /uploads/{id} (a download). */
int demo_uploads_new(struct demo *d);
int demo_uploads_routes(cio_http_app *app, struct demo *d);
/* Removes the stored files (and the directory when it is ours). */
void demo_uploads_free(struct demo *d);

/* chat.c: GET /chat, a WebSocket chat room. */
int demo_room_new(struct demo *d);
int demo_chat_routes(cio_http_app *app, struct demo *d);
size_t demo_room_members(const struct demo *d);
size_t demo_room_connections(const struct demo *d);
void demo_room_free(struct demo *d);

/* Limits, one place. */
#define DEMO_MAX_UPLOAD (64u * 1024 * 1024) /* request body (the whole form) */
#define DEMO_MAX_UPLOADS 100                /* files kept; the oldest go first */
#define DEMO_CHAT_MAX_MESSAGE 4096          /* one chat message, bytes */
#define DEMO_CHAT_QUEUE 64                  /* messages waiting for one member */

#endif
