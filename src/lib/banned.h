/*
 * Functions this project does not use: unbounded copies, hidden static state.
 * Included last (after every system header) by each .c file of src/, so a
 * use fails to compile.
 */
#ifndef ORCH_LIB_BANNED_H
#define ORCH_LIB_BANNED_H

#define BANNED(f) sorry_##f##_is_banned

#undef strcpy
#define strcpy(...) BANNED(strcpy)
#undef strcat
#define strcat(...) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(...) BANNED(strtok)
#undef localtime
#define localtime(...) BANNED(localtime)
#undef gmtime
#define gmtime(...) BANNED(gmtime)
#undef gets
#define gets(...) BANNED(gets)

#endif
