/* cio: Python asyncio's programming model for C. One header for all of it. */
#ifndef CIO_H
#define CIO_H

#include "cio/common.h"
#include "cio/loop.h"
#include "cio/future.h"
#include "cio/task.h"
#include "cio/sync.h"
#include "cio/net.h"
#include "cio/tls.h"
#include "cio/dns.h"
#include "cio/http.h"
#include "cio/http_client.h"
#include "cio/ws.h"

#endif
