#include "outputs/stdout_line.h"

#include <pthread.h>

static pthread_mutex_t stdout_line = PTHREAD_MUTEX_INITIALIZER;

bool saker_stdout_line_trylock(void)
{
	return pthread_mutex_trylock(&stdout_line) == 0;
}

void saker_stdout_line_unlock(void)
{
	(void)pthread_mutex_unlock(&stdout_line);
}
