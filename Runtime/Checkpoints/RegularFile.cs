using System.Runtime.InteropServices;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Refuses paths that are not regular files before they are opened: opening a FIFO blocks until a writer
/// appears, and a character device (/dev/zero, /dev/urandom) reads forever; neither is a model file.
/// On Linux (x64, arm64) the file type comes from libc <c>stat</c>; elsewhere only directories are detected.
/// </summary>
internal static unsafe partial class RegularFile
{
    private const uint TypeMask = 0xF000, Regular = 0x8000, Directory = 0x4000, Fifo = 0x1000,
                       CharDevice = 0x2000, BlockDevice = 0x6000, Socket = 0xC000;

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Stat(string path, byte* buffer);

    /// <summary>Throws <see cref="FileNotFoundException"/> or <see cref="InvalidDataException"/> unless <paramref name="path"/> is a regular file.</summary>
    public static void Require(string path, string what)
    {
        if (System.IO.Directory.Exists(path)) throw new InvalidDataException($"'{path}' is a directory, not a {what}.");
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} '{path}' does not exist.", path);
        if (FileType(path) is uint type && type != Regular)
            throw new InvalidDataException($"'{path}' is not a regular file ({Describe(type)}), not a {what}.");
    }

    /// <summary>The S_IFMT bits of <paramref name="path"/> (links followed), or null where they cannot be read.</summary>
    private static uint? FileType(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        int modeOffset = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 24,      // st_dev 8, st_ino 8, st_nlink 8, st_mode
            Architecture.Arm64 => 16,    // st_dev 8, st_ino 8, st_mode
            _ => -1,
        };
        if (modeOffset < 0) return null;
        byte* buffer = stackalloc byte[256];   // struct stat is 144 (x64) / 128 (arm64) bytes
        try
        {
            if (Stat(path, buffer) != 0) return null;
        }
        catch (EntryPointNotFoundException) { return null; }
        catch (DllNotFoundException) { return null; }
        return *(uint*)(buffer + modeOffset) & TypeMask;
    }

    private static string Describe(uint type) => type switch
    {
        Directory => "a directory",
        Fifo => "a FIFO",
        CharDevice => "a character device",
        BlockDevice => "a block device",
        Socket => "a socket",
        _ => $"file type 0x{type:X}",
    };
}
