namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Write-then-rename: the content goes to a temporary file in the destination's folder, is flushed to disk,
/// and only then renamed over the destination (an atomic replace on one file system). A save that throws or
/// whose process dies midway leaves the previous file untouched; at worst a stray
/// <c>.NAME.*.tmp</c> file remains next to it.
/// </summary>
public static class AtomicFile
{
    /// <summary>Suffix of the temporary files (<c>.{file name}.{random}.tmp</c>), for cleanup tools and tests.</summary>
    public const string TempSuffix = ".tmp";

    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"Cannot save to '{full}': it is a directory.");
        string folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        // Same folder as the destination, so the rename never crosses file systems (which would copy, not rename).
        string temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
