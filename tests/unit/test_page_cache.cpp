// io/page_cache: residency of checkpoint files in the page cache (mincore) and dropping them
// (posix_fadvise), as heartmula-bench --load-cold uses them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/page_cache.h"

namespace fs = std::filesystem;
namespace io = heartmula::io;

namespace {

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("heartmula-page-cache-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

void write_file(const fs::path& p, size_t bytes) {
  std::ofstream out(p, std::ios::binary);
  std::vector<char> buf(1 << 20, 'x');
  for (size_t done = 0; done < bytes; done += buf.size()) out.write(buf.data(), std::min(buf.size(), bytes - done));
}

size_t read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> buf(1 << 20);
  size_t n = 0;
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) n += static_cast<size_t>(in.gcount());
  return n;
}

// tmpfs or ramfs: the page cache is where the file lives.
bool memory_backed(const fs::path& p) {
  struct statfs st {};
  if (::statfs(p.c_str(), &st) != 0) return false;
  return st.f_type == 0x01021994 /* TMPFS_MAGIC */ ||
         st.f_type == static_cast<decltype(st.f_type)>(0x858458f6) /* RAMFS_MAGIC */;
}

}  // namespace

TEST(PageCache, ListsResidencyAndDrops) {
  const fs::path dir = temp_dir();
  write_file(dir / "model-00001-of-00002.safetensors", 6 << 20);
  write_file(dir / "model-00002-of-00002.safetensors", (3 << 20) + 123);
  write_file(dir / "config.json", 10);
  fs::create_directories(dir / "sub");  // folders are not listed
  const std::vector<std::string> files = io::checkpoint_files(dir.string());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(fs::path(files[0]).filename(), "config.json");  // sorted
  for (const auto& f : files) ASSERT_GT(read_all(f), 0u);   // just read: cached
  const uint64_t total = (6 << 20) + (3 << 20) + 123 + 10;
  const io::PageCacheInfo before = io::page_cache_residency(files);
  EXPECT_EQ(before.file_bytes, total);
  EXPECT_EQ(before.resident_bytes, total);  // every page of a file just read is in memory
  const io::PageCacheInfo after = io::drop_from_page_cache(files);
  EXPECT_EQ(after.file_bytes, total);
  // These files were just written and not fsynced: their pages may still be dirty, and dirty
  // pages stay, so all this can assert is "never more than before"; on tmpfs / ramfs (the pages
  // are the file) exactly as before. That clean pages do go: DropsCleanPagesOfADiskFile.
  if (memory_backed(dir)) {
    EXPECT_EQ(after.resident_bytes, total) << dir << " is tmpfs/ramfs";
  } else {
    EXPECT_LE(after.resident_bytes, before.resident_bytes);
  }
  fs::remove_all(dir);
}

// The dropping itself, on a file system with a disk behind it: the build tree, where ctest runs
// the test (the temp folder may be tmpfs). A file written and fsynced (its pages clean), read
// (all cached), dropped: none left; read again: all back.
TEST(PageCache, DropsCleanPagesOfADiskFile) {
  const fs::path dir = fs::current_path() / ("heartmula-page-cache-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ASSERT_FALSE(memory_backed(dir)) << "the build tree " << dir << " is on tmpfs: no disk to drop pages to";
  const fs::path f = dir / "model.safetensors";
  write_file(f, (4 << 20) + 321);
  {
    const int fd = ::open(f.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
  }
  const std::vector<std::string> files = {f.string()};
  ASSERT_EQ(read_all(f), (4u << 20) + 321u);
  EXPECT_EQ(io::page_cache_residency(files).resident_bytes, (4u << 20) + 321u);
  EXPECT_EQ(io::drop_from_page_cache(files).resident_bytes, 0u);
  EXPECT_EQ(io::page_cache_residency(files).resident_bytes, 0u);
  ASSERT_EQ(read_all(f), (4u << 20) + 321u);
  EXPECT_EQ(io::page_cache_residency(files).resident_bytes, (4u << 20) + 321u);
  fs::remove_all(dir);
}

TEST(PageCache, MissingFilesCountAsNothing) {
  const io::PageCacheInfo i = io::page_cache_residency({"/nonexistent/heartmula/model.safetensors"});
  EXPECT_EQ(i.file_bytes, 0u);
  EXPECT_EQ(i.resident_bytes, 0u);
  EXPECT_TRUE(io::checkpoint_files("/nonexistent/heartmula").empty());
  EXPECT_EQ(io::drop_from_page_cache({"/nonexistent/x"}).file_bytes, 0u);
}
