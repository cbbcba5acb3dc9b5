package io.flowmosaic.localfs;

import org.apache.hadoop.fs.LocalFileSystem;

/** fs.file.impl: Hadoop's checksummed local file system over ForklessRawLocalFileSystem. */
public class ForklessLocalFileSystem extends LocalFileSystem {
  public ForklessLocalFileSystem() {
    super(new ForklessRawLocalFileSystem());
  }
}
