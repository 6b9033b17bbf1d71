namespace Qwen3Gen.Training;

/// <summary>
/// An exclusive lock on a run folder, held for the whole of a training run: a second process that trains into
/// the same folder would interleave its checkpoints with the first one's, so it is refused. The lock is an OS file
/// lock (flock on Linux) on <c>FOLDER/train.lock</c>: it ends with the process however the process ends, so a
/// crashed run never leaves the folder locked.
/// </summary>
public sealed class RunFolderLock : IDisposable
{
    public const string FileName = "train.lock";

    private readonly FileStream _stream;

    private RunFolderLock(FileStream stream, string folder)
    {
        _stream = stream;
        Folder = folder;
    }

    public string Folder { get; }

    /// <summary>
    /// Creates <paramref name="folder"/> if needed and locks it. Throws <see cref="IOException"/> when another
    /// process holds it, and <see cref="UnauthorizedAccessException"/> (with the folder named) when it cannot be written.
    /// </summary>
    public static RunFolderLock Acquire(string folder)
    {
        string full = Path.GetFullPath(folder);
        string path = Path.Combine(full, FileName);
        try
        {
            Directory.CreateDirectory(full);
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return new RunFolderLock(stream, full);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"cannot write to the run folder '{full}' ({e.Message}); give a writable --out.", e);
        }
        catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException or PathTooLongException) && File.Exists(path))
        {
            throw new IOException($"'{full}' is in use by another training process (it holds {path}); wait for it to end or give another --out.", e);
        }
        catch (IOException e)
        {
            throw new IOException($"cannot use '{full}' as a run folder: {e.Message}", e);
        }
    }

    public void Dispose() => _stream.Dispose();
}
