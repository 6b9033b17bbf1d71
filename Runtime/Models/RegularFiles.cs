using System.Runtime.InteropServices;

namespace Qwen3Gen.Models;

/// <summary>
/// Opens the files a model is made of (weights, shards, index, config, tokenizer files, training data) only when
/// they are regular files. A FIFO in place of a shard would block the open forever (no writer ever comes), a device
/// would be read without end: each is refused before it is opened, with the path named. The file type comes from
/// statx(2), whose struct has one layout on every Linux architecture; elsewhere only folders are told apart.
/// </summary>
public static unsafe class RegularFiles
{
    /// <summary>
    /// Throws <see cref="FileNotFoundException"/> if <paramref name="path"/> does not exist and <see cref="IOException"/>
    /// if it is a folder or not a regular file; <paramref name="what"/> names the file's role in the message.
    /// </summary>
    public static void CheckRegular(string path, string what = "file")
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"{what} '{full}' is a directory, not a file.");
        if (!File.Exists(full)) throw new FileNotFoundException($"{what} '{full}' does not exist.", full);
        if (FileType(full) is string type) throw new IOException($"{what} '{full}' is a {type}, not a regular file: refusing to open it.");
    }

    /// <summary><see cref="File.ReadAllText(string)"/> after <see cref="CheckRegular"/>.</summary>
    public static string ReadAllText(string path, string what = "file")
    {
        CheckRegular(path, what);
        return File.ReadAllText(path);
    }

    /// <summary><see cref="File.ReadAllBytes(string)"/> after <see cref="CheckRegular"/>.</summary>
    public static byte[] ReadAllBytes(string path, string what = "file")
    {
        CheckRegular(path, what);
        return File.ReadAllBytes(path);
    }

    /// <summary><see cref="File.OpenRead(string)"/> after <see cref="CheckRegular"/>.</summary>
    public static FileStream OpenRead(string path, string what = "file")
    {
        CheckRegular(path, what);
        return File.OpenRead(path);
    }

    /// <summary>Null for a regular file (or when the type cannot be read); else what it is ("FIFO", "socket", ...).</summary>
    internal static string? FileType(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        Span<byte> buffer = stackalloc byte[256];                  // struct statx is 256 bytes
        int rc;
        try
        {
            fixed (byte* b = buffer) rc = statx(AtFdCwd, path, 0, StatxType, b);
        }
        catch (EntryPointNotFoundException) { return null; }      // a libc without statx (before glibc 2.28)
        if (rc != 0) return null;                                 // File.Exists said yes; let the open report it
        int mode = BitConverter.ToUInt16(buffer.Slice(28, 2));    // stx_mode at offset 28
        return (mode & 0xF000) switch
        {
            0x8000 => null,                    // S_IFREG
            0x1000 => "FIFO (named pipe)",     // S_IFIFO
            0x2000 => "character device",      // S_IFCHR
            0x6000 => "block device",          // S_IFBLK
            0xC000 => "socket",                // S_IFSOCK
            0x4000 => "directory",             // S_IFDIR
            _ => "special file",
        };
    }

    private const int AtFdCwd = -100;
    private const uint StatxType = 1;

    [DllImport("libc", SetLastError = true)]
    private static extern unsafe int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);
}
