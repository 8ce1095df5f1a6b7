/* version.h - the program's version, as `runbook --version` and every
 * journal's run.start record give it. */
#ifndef RUNBOOK_VERSION_H
#define RUNBOOK_VERSION_H

#define RUNBOOK_VERSION "0.1.0"

#endif
