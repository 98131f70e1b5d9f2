#define _GNU_SOURCE
#include "caps.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

/* The highest capability this kernel knows. /proc may not be mounted in the container, so fall
 * back to asking the bounding set until it says EINVAL. */
static int last_cap(void)
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	char buf[16] = { 0 };
	int c;

	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		return atoi(buf);
	for (c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break;
	return c - 1;
}

int caps_limit_bounding(uint64_t keep)
{
	int last = last_cap();

	for (int c = 0; c <= last; c++) {
		if (keep & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return fail(errno, "drop capability %d from the bounding set", c);
	}
	return 0;
}

int caps_set(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	/* Version 3 splits each 64-bit set into two 32-bit words, low word first. */
	struct __user_cap_data_struct data[2] = {
		{ .effective = (uint32_t)effective, .permitted = (uint32_t)permitted,
		  .inheritable = (uint32_t)inheritable },
		{ .effective = (uint32_t)(effective >> 32), .permitted = (uint32_t)(permitted >> 32),
		  .inheritable = (uint32_t)(inheritable >> 32) },
	};

	if (syscall(SYS_capset, &hdr, data) < 0)
		return fail(errno, "capset effective=%#llx permitted=%#llx inheritable=%#llx",
			    (unsigned long long)effective, (unsigned long long)permitted,
			    (unsigned long long)inheritable);
	return 0;
}

int caps_set_ambient(uint64_t ambient)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail(errno, "clear the ambient capabilities");
	for (int c = 0; c < 64; c++) {
		if (!(ambient & (1ULL << c)))
			continue;
		/* Needs c in both the permitted and the inheritable set: caps_set comes first. */
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return fail(errno, "raise ambient capability %d", c);
	}
	return 0;
}
