#define _GNU_SOURCE
#include "selfexe.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

/* No write, no size change, no new seal (not even the removal of these, which is impossible
 * anyway): the memfd's content is fixed for its whole life. */
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int selfexe_ensure_sealed(char **argv)
{
	_cleanup_close_ int self = -1, mfd = -1;
	struct stat st;
	off_t copied = 0;
	int seals;

	self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return fail(errno, "memfd re-exec: open \"/proc/self/exe\"");
	/* A regular file has no seals (EINVAL); a memfd made by a previous run of this code has
	 * exactly ours. Anything less is copied again. */
	seals = fcntl(self, F_GET_SEALS);
	if (seals >= 0 && (seals & SEALS) == SEALS)
		return 0;
	if (fstat(self, &st) < 0)
		return fail(errno, "memfd re-exec: stat \"/proc/self/exe\"");

	/* Close-on-exec is fine for an ELF binary: execveat has the file open before it closes
	 * the fd, and the new process's /proc/self/exe is the memfd either way. */
	mfd = memfd_create("berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return fail(errno, "memfd re-exec: memfd_create");
	while (copied < st.st_size) {
		ssize_t n = sendfile(mfd, self, NULL, (size_t)(st.st_size - copied));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno, "memfd re-exec: copy \"/proc/self/exe\" (sendfile)");
		if (n == 0)
			return fail_msg(EIO, "memfd re-exec: copy \"/proc/self/exe\": %lld of %lld bytes",
					(long long)copied, (long long)st.st_size);
		copied += n;
	}
	/* Sealed before the exec: from then on the copy cannot change, whoever gets hold of it
	 * through /proc/<pid>/exe. */
	if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
		return fail(errno, "memfd re-exec: seal the memfd");
	/* argv and environ unchanged; fds 3+ without close-on-exec (the sync socket, preserved
	 * fds) pass through as they are. */
	fexecve(mfd, argv, environ);
	return fail(errno, "memfd re-exec: fexecve");
}
