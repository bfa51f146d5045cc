#ifndef FACTEUR_CLIBPQ_SHIM_H
#define FACTEUR_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <poll.h>
#endif
