package io.flowmosaic.localfs;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermissions;

import org.apache.hadoop.fs.FSLinkResolver;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's local file system, with the two calls that start a process (when Hadoop's native
 * library is absent, as in the pyspark wheel) done in Java instead: setting a file's
 * permission (Hadoop forks `chmod` for every file and directory it creates) and the link
 * status of a path (Hadoop forks `readlink` twice for every rename, i.e. every Delta commit).
 * The results are the same as Hadoop's own; only the process is gone.
 */
public class ForklessRawLocalFileSystem extends RawLocalFileSystem {

  @Override
  public void setPermission(Path p, FsPermission permission) throws IOException {
    if (permission.getStickyBit()) { // java.nio cannot set it: Hadoop's way
      super.setPermission(p, permission);
      return;
    }
    String mode = permission.getUserAction().SYMBOL
        + permission.getGroupAction().SYMBOL
        + permission.getOtherAction().SYMBOL;
    Files.setPosixFilePermissions(
        pathToFile(p).toPath(), PosixFilePermissions.fromString(mode));
  }

  /** What `readlink PATH` prints for the path as Hadoop passes it (the Path's string, scheme
   * included): the link's target, or "" when it is no link or cannot be read. */
  static String readLink(String path) {
    try {
      return Files.readSymbolicLink(Paths.get(path)).toString();
    } catch (IOException | InvalidPathException | UnsupportedOperationException e) {
      return "";
    }
  }

  /** Hadoop's getFileLinkStatus without the native library, step for step, reading the link
   * in Java: a link's target is qualified as Hadoop qualifies it. */
  @Override
  public FileStatus getFileLinkStatus(final Path f) throws IOException {
    FileStatus fi = linkStatus(f);
    if (fi.isSymlink()) {
      fi.setSymlink(FSLinkResolver.qualifySymlinkTarget(getUri(), fi.getPath(), fi.getSymlink()));
    }
    return fi;
  }

  private FileStatus linkStatus(final Path f) throws IOException {
    String target = readLink(new File(f.toString()).toString());
    try {
      FileStatus fs = getFileStatus(f);
      if (target.isEmpty()) {
        return fs;
      }
      return new FileStatus(fs.getLen(), false, fs.getReplication(), fs.getBlockSize(),
          fs.getModificationTime(), fs.getAccessTime(), fs.getPermission(), fs.getOwner(),
          fs.getGroup(), new Path(target), f);
    } catch (FileNotFoundException e) {
      if (!target.isEmpty()) { // a dangling link
        return new FileStatus(0, false, 0, 0, 0, 0, FsPermission.getDefault(), "", "",
            new Path(target), f);
      }
      throw e;
    }
  }
}
