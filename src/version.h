/* The program's version, set by the Makefile from the VERSION file. */
#ifndef ORCH_VERSION_H
#define ORCH_VERSION_H
#ifndef ORCH_VERSION
#define ORCH_VERSION "0.0.0-dev"
#endif
#endif
