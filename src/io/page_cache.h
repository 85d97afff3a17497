// The kernel's page cache for checkpoint files: how much of a file is cached, and asking the
// kernel to drop it, without root (posix_fadvise POSIX_FADV_DONTNEED drops clean pages of a file
// that no process has mapped; /proc/sys/vm/drop_caches would need root). Used by
// heartmula-bench --load-cold to time loads that read from the disk.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace heartmula::io {

struct PageCacheInfo {
  uint64_t file_bytes = 0;      // sizes of the files looked at
  uint64_t resident_bytes = 0;  // of those, in the page cache (mincore)
};

// The regular files directly in `dir` (a checkpoint folder: shards, index, config), sorted.
std::vector<std::string> checkpoint_files(const std::string& dir);

// Bytes of `paths` in the page cache now. Files that cannot be opened count as 0 of 0.
PageCacheInfo page_cache_residency(const std::vector<std::string>& paths);

// Asks the kernel to drop `paths` from the page cache; returns the residency afterwards (pages
// still mapped or dirty stay). Errors are not fatal: a file that cannot be opened is skipped.
PageCacheInfo drop_from_page_cache(const std::vector<std::string>& paths);

}  // namespace heartmula::io
