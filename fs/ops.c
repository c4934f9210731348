/* The FUSE low-level operations table, and the operations that concern the whole mount:
 * init (threads start here, in the daemon), statfs and destroy (unmounting uploads whatever
 * is still staged). The handlers live by concern in inode_ops.c, file_ops.c, dir_ops.c and
 * name_ops.c.
 *
 * Replies are sent from the worker thread that runs the handler, except for reads that wait
 * for the bucket: those are answered from a read worker (fs/file_ops.c). Handlers take no lock
 * of their own beyond a node mutex (see fs/open_files.h for the order). */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs/upload.h"
#include "fs/metrics.h"
#include "fs/ops_i.h"
#include "fs/readahead.h"
#include "fs/status.h"
#include "fs/workers.h"
#include "util/log.h"

/* Reads queued for a read worker, at most; past that a read waits on the FUSE thread it came
 * on. The kernel has a read outstanding per waiting thread and a few of its own read-ahead,
 * so this only bounds the queue against the unforeseen. */
#define READ_QUEUE_MAX 4096

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct gmfs *fs = userdata;

	/* Threads start here, in the daemon, not before it forked. */
	if (fs->blocks && fs->ra_window && fs->ra_threads > 0) {
		fs->ra = readahead_new(fs->blocks, fs->fetch, fs->fetch_arg, fs->ra_threads);
		if (!fs->ra)
			log_warn("read-ahead workers could not start; reading without them");
	}
	if (fs->read_threads > 0) {
		fs->readers = workers_new(fs->read_threads, READ_QUEUE_MAX);
		if (!fs->readers)
			log_warn("no read workers: reads wait for the bucket on FUSE's threads");
	}
	if (fs->metrics && metrics_start(fs->metrics, fs) != 0)
		log_warn("metrics threads could not start");
	if (fs->status && status_start(fs->status, fs) != 0)
		log_warn("the status thread could not start; gcsmount --status gets no answer");
	/* Listings carry attributes, so let the kernel take them with the names. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	/* A bucket has no fixed capacity; report a large one so tools do not refuse to copy. */
	memset(&st, 0, sizeof(st));
	st.f_bsize = 1 << 20;
	st.f_frsize = 4096;
	st.f_blocks = st.f_bfree = st.f_bavail = 1ull << 40;
	st.f_files = st.f_ffree = st.f_favail = 1ull << 32;
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

static int final_upload(struct fnode *n, void *arg)
{
	struct gmfs *fs = arg;

	fnode_lock(n);
	if (n->dirty && !n->unlinked)
		fnode_upload(fs, n, 1);
	fnode_unlock(n);
	return 0;
}

static void op_destroy(void *userdata)
{
	struct gmfs *fs = userdata;

	/* Unmounting: the queued uploads finish, then whatever is still staged goes up now, or
	 * is kept. (The read workers stopped with the session loop, while their answers could
	 * still reach the kernel: see fs/main.c.) */
	upload_stop(fs);
	ftable_each(fs->files, "", final_upload, fs);
}

const struct fuse_lowlevel_ops gmfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.create = op_create,
	.write = op_write,
	.flush = op_flush,
	.fsync = op_fsync,
	.setattr = op_setattr,
	.unlink = op_unlink,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.symlink = op_symlink,
	.mknod = op_mknod,
	.link = op_link,
};
