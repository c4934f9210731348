/* gcsmount --status and gcsmount --unmount: the commands that ask a running mount (see
 * fs/status.h) rather than make one. Each returns the process's exit status. */
#ifndef GCSMOUNT_FS_STATUS_COMMANDS_H
#define GCSMOUNT_FS_STATUS_COMMANDS_H

/* Prints the status of the mount at mountpoint, or of every gcsmount mount (NULL). */
int status_command(const char *mountpoint);
/* Waits until the mount's written data is uploaded, unmounts it, waits for its daemon to end
 * and says whether everything reached the bucket. */
int unmount_command(const char *mountpoint);

#endif
