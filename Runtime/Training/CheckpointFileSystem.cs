using System.Runtime.InteropServices;

namespace Qwen3Gen.Training;

/// <summary>
/// The file-system steps a checkpoint save takes, one virtual method each, so a test can fail any one of them
/// (and, to model a killed process, every step after it) and check what a resume then finds. The real
/// implementation makes each step durable before the next one starts: files and folders are fsynced, so a
/// rename that a power loss keeps never points at data the power loss dropped.
/// </summary>
public class CheckpointFileSystem
{
    /// <summary>The real file system.</summary>
    public static readonly CheckpointFileSystem Real = new();

    public virtual void CreateDirectory(string path) => Directory.CreateDirectory(path);

    /// <summary>Creates <paramref name="path"/> (it must not exist), writes it and flushes it to the disk (fsync).</summary>
    public virtual void WriteFile(string path, Action<Stream> write)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        write(stream);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Flushes a file written by other code to the disk (fsync).</summary>
    public virtual void SyncFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>
    /// fsync on a folder: makes the names created, renamed or removed in it durable (a file's own fsync does not).
    /// POSIX only; Windows has no such call and NTFS journals renames itself.
    /// </summary>
    public virtual void SyncDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Posix.open(path, 0 /* O_RDONLY */);
        if (fd < 0) throw new IOException($"Cannot open folder '{path}' to flush it: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            // EINVAL: the file system cannot sync folders (some network and FUSE ones); nothing more can be done there.
            if (Posix.fsync(fd) != 0 && Marshal.GetLastPInvokeError() != Posix.EINVAL)
                throw new IOException($"Cannot flush folder '{path}' to the disk: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally { Posix.close(fd); }
    }

    /// <summary>Renames a folder: atomic on one file system (the destination must not exist).</summary>
    public virtual void Move(string from, string to) => Directory.Move(from, to);

    public virtual void DeleteDirectory(string path) => Directory.Delete(path, recursive: true);

    public virtual void DeleteFile(string path) => File.Delete(path);

    private static class Posix
    {
        public const int EINVAL = 22;

        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
