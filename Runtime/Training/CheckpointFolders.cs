namespace Qwen3Gen.Training;

/// <summary>
/// How a checkpoint folder NAME inside a run folder is replaced so that no sequence of crashes, at any instant,
/// leaves zero complete copies. The names in the run folder:
///   NAME/                the latest complete checkpoint
///   NAME.old/            the previous one, present only while a save is swapping
///   .NAME.ID.tmp/        a save in progress (ID: one per save), or a folder being discarded
///   .NAME.ID.lock        held (exclusive file lock) by the live process doing save ID
///
/// A save, step by step (every rename is atomic on one file system; "sync" is an fsync of the run folder, which
/// makes the renames before it durable in that order):
///   1. create .NAME.ID.lock and hold it; create .NAME.ID.tmp/ and write every file into it, each fsynced;
///      fsync the folder. A crash here leaves the previous state plus a stray temp folder.
///   2. if NAME/ is complete: discard NAME.old/ (it is redundant: NAME/ is complete), rename NAME/ → NAME.old/, sync.
///      If NAME/ is damaged (a complete one would have passed): discard it; NAME.old/ is then the complete copy.
///      Either way a complete copy survives every instant: NAME/ until its rename, NAME.old/ from then on.
///   3. rename .NAME.ID.tmp/ → NAME/, sync. From here NAME/ is the new complete checkpoint.
///   4. discard NAME.old/, sync; release and delete the lock.
/// "Discard" first renames the folder to a .NAME.ID.N.tmp name (atomic) and only then deletes it, so a folder is
/// either whole under its name or not there; a crash mid-delete leaves a stray temp folder, never half a NAME.old/.
///
/// <see cref="Find"/> takes NAME/ if complete, else NAME.old/ if complete: after a crash in step 2 or 3 that is the
/// previous checkpoint, after step 3 the new one. <see cref="CleanStrays"/> removes the temp folders and locks of
/// saves whose process is gone (their lock file is no longer held).
/// </summary>
public static class CheckpointFolders
{
    public const string OldSuffix = ".old";

    /// <summary>
    /// Saves a checkpoint NAME in <paramref name="outputDirectory"/>: <paramref name="writeInto"/> writes the files
    /// into the folder it is given (through <paramref name="fs"/>), then the swap above. Returns the final folder.
    /// </summary>
    public static string Save(string outputDirectory, string name, Action<string> writeInto, Func<string, bool> isComplete, CheckpointFileSystem fs)
    {
        ArgumentNullException.ThrowIfNull(writeInto);
        ArgumentNullException.ThrowIfNull(isComplete);
        ArgumentNullException.ThrowIfNull(fs);
        fs.CreateDirectory(outputDirectory);
        string final = Path.Combine(outputDirectory, name), old = final + OldSuffix;
        string id = Guid.NewGuid().ToString("N");
        string lockPath = Path.Combine(outputDirectory, $".{name}.{id}.lock");
        int discards = 0;
        void Discard(string folder)
        {
            string trash = Path.Combine(outputDirectory, $".{name}.{id}.{++discards}.tmp");
            fs.Move(folder, trash);
            fs.SyncDirectory(outputDirectory);
            fs.DeleteDirectory(trash);
        }

        var owner = new FileStream(lockPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        string temp = Path.Combine(outputDirectory, $".{name}.{id}.tmp");
        try
        {
            // Step 1: the new checkpoint, complete and durable under a temporary name.
            fs.CreateDirectory(temp);
            writeInto(temp);
            fs.SyncDirectory(temp);

            // Step 2: keep exactly one complete previous copy, as NAME.old/ (or none if there was none).
            if (Directory.Exists(final))
            {
                if (isComplete(final))
                {
                    if (Directory.Exists(old)) Discard(old);
                    fs.Move(final, old);
                    fs.SyncDirectory(outputDirectory);
                }
                else Discard(final);
            }

            // Step 3: the new checkpoint takes the name.
            fs.Move(temp, final);
            fs.SyncDirectory(outputDirectory);

            // Step 4: the previous copy is no longer needed.
            if (Directory.Exists(old)) Discard(old);
        }
        catch (Exception failure)
        {
            // A failure the process survives (disk full, no permission): the new copy is dropped, the complete one
            // (NAME/ or NAME.old/) stays. A killed process skips this; CleanStrays does it at the next start.
            try { if (Directory.Exists(temp)) fs.DeleteDirectory(temp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            // .NET reports a write failing with EFBIG (past RLIMIT_FSIZE or the file system's largest file) as
            // ArgumentOutOfRangeException("value") without the file: make it the I/O error it is, naming the folder.
            if (failure is ArgumentOutOfRangeException { ParamName: "value" })
                throw new IOException($"Writing the checkpoint into '{temp}' failed: a file grew past the largest size this process may write " +
                                      $"(EFBIG: a file-size limit or the file system's maximum; {failure.Message}).", failure);
            throw;
        }
        finally
        {
            owner.Dispose();
            try { fs.DeleteFile(lockPath); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return final;
    }

    /// <summary>The folder to resume from: NAME/ if complete, else NAME.old/ if complete; null when neither is.</summary>
    public static string? Find(string outputDirectory, string name, Func<string, bool> isComplete)
    {
        string final = Path.Combine(outputDirectory, name), old = final + OldSuffix;
        if (Directory.Exists(final) && isComplete(final)) return final;
        if (Directory.Exists(old) && isComplete(old)) return old;
        return null;
    }

    /// <summary>
    /// Deletes the temp folders and lock files of saves whose process is gone, and returns the paths removed.
    /// A save's lock file is held while it runs, so a folder whose lock is still held belongs to a live process
    /// and is left alone. (A lock that is missing means its save finished or died before creating any folder:
    /// the lock is created before the folders and deleted after them.)
    /// </summary>
    public static IReadOnlyList<string> CleanStrays(string outputDirectory, string name)
    {
        var removed = new List<string>();
        if (!Directory.Exists(outputDirectory)) return removed;
        string prefix = "." + name + ".";
        foreach (var folder in Directory.EnumerateDirectories(outputDirectory, prefix + "*.tmp"))
        {
            string id = IdOf(Path.GetFileName(folder), prefix);
            if (IsHeld(Path.Combine(outputDirectory, prefix + id + ".lock"))) continue;
            Directory.Delete(folder, recursive: true);
            removed.Add(folder);
        }
        foreach (var lockFile in Directory.EnumerateFiles(outputDirectory, prefix + "*.lock"))
        {
            if (IsHeld(lockFile)) continue;
            File.Delete(lockFile);
            removed.Add(lockFile);
        }
        return removed;
    }

    /// <summary>ID of ".NAME.ID.tmp" or ".NAME.ID.N.tmp".</summary>
    private static string IdOf(string fileName, string prefix)
    {
        string rest = fileName.Substring(prefix.Length);
        int dot = rest.IndexOf('.');
        return dot < 0 ? rest : rest.Substring(0, dot);
    }

    /// <summary>True when another open handle holds <paramref name="lockFile"/> exclusively (its owner is alive).</summary>
    internal static bool IsHeld(string lockFile)
    {
        try
        {
            using var probe = new FileStream(lockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (FileNotFoundException) { return false; }
        catch (DirectoryNotFoundException) { return false; }
        catch (IOException) { return true; }                    // a sharing violation: the lock is held
        catch (UnauthorizedAccessException) { return true; }    // cannot tell: leave it alone
    }
}
