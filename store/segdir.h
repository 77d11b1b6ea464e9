/* Listing and loading the segment files of a journal directory. Any thread may call these;
 * they read the directory as it is at the moment of the call. */
#ifndef AMSI_STORE_SEGDIR_H
#define AMSI_STORE_SEGDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct seg_entry {
    uint64_t first_seq;
    bool compressed; /* ".seg.lz4" */
    uint64_t bytes;  /* size of the file on disk */
    int64_t mtime_ms;
    char path[4400];
};

/* Lists the segments of DIR in sequence order into a new array (*OUT, *COUNT; free() it). Where
 * both "X.seg" and "X.seg.lz4" exist (a crash during sealing) only the plain file is listed.
 * Returns 0 or a negative errno. */
int segdir_list(const char *dir, struct seg_entry **out, size_t *count);

/* Reads a whole segment into memory, decompressing ".seg.lz4" files; at most MAX bytes of
 * content. Returns 0 with *DATA (free() it) and *LEN, or -EMSGSIZE, -errno. When the LZ4 frame
 * is damaged, what decoded before the damage is returned and *DAMAGED is set. */
int segdir_load(const struct seg_entry *e, size_t max, unsigned char **data, size_t *len,
                bool *damaged);

/* Formats the file name of the segment starting at FIRST_SEQ ("00000000000000000001.seg"). */
void segdir_name(char *out, size_t outlen, const char *dir, uint64_t first_seq, bool compressed);

/* fsyncs a directory, so that created, renamed and removed entries are durable. */
int segdir_sync_dir(const char *dir);

#endif
