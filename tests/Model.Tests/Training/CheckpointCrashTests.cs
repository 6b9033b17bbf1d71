using Qwen3Gen.Training;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Crash consistency of <see cref="CheckpointFolders"/>: a failure injected at every file-system step of a save (as an
/// exception the process survives, and as a kill: that step and every later one fail, partial files stay) must leave a
/// loadable latest-or-previous checkpoint that <see cref="TrainingCheckpoint.Find"/> returns, also after a second
/// crash in the next save; the next start cleans up what the crash left.
/// </summary>
[Collection("Workers")]
public class CheckpointCrashTests
{
    private static readonly TextDataset Data = TextDataset.FromBytes(TestWeights.Shakespeare(8_000));

    private static TrainingOptions Options() => new() { Steps = 10, Batch = 2, Context = 8, WarmupSteps = 1, Seed = 3 };

    /// <summary>
    /// Counts every step; step <c>failAt</c> fails. A write that fails leaves the first half of its bytes on disk.
    /// With <c>kill</c>, every later step fails too (the process is gone: no cleanup runs).
    /// </summary>
    private sealed class FailingFileSystem(int failAt, bool kill) : CheckpointFileSystem
    {
        private bool _dead;
        public int Steps { get; private set; }
        public List<string> Log { get; } = [];

        private bool Fails(string step)
        {
            Steps++;
            Log.Add(step);
            if (_dead || Steps == failAt) { _dead = kill; return true; }
            return false;
        }

        private IOException Failure(string step) => new($"injected failure at step {Steps}: {step}");

        public override void CreateDirectory(string path)
        {
            if (Fails("mkdir " + Path.GetFileName(path))) throw Failure("mkdir");
            base.CreateDirectory(path);
        }

        public override void WriteFile(string path, Action<Stream> write)
        {
            if (Fails("write " + Path.GetFileName(path)))
            {
                var bytes = new MemoryStream();
                write(bytes);
                try { File.WriteAllBytes(path, bytes.ToArray().AsSpan(0, (int)bytes.Length / 2).ToArray()); } catch (IOException) { }
                throw Failure("write");
            }
            base.WriteFile(path, write);
        }

        public override void SyncDirectory(string path)
        {
            if (Fails("sync " + Path.GetFileName(path))) throw Failure("sync");
            base.SyncDirectory(path);
        }

        public override void Move(string from, string to)
        {
            if (Fails("move " + Path.GetFileName(from) + " -> " + Path.GetFileName(to))) throw Failure("move");
            base.Move(from, to);
        }

        public override void DeleteDirectory(string path)
        {
            if (Fails("rmdir " + Path.GetFileName(path)))
            {
                // a delete killed midway: some files gone, the folder still there
                foreach (var file in Directory.GetFiles(path).Take(1)) File.Delete(file);
                throw Failure("rmdir");
            }
            base.DeleteDirectory(path);
        }

        public override void DeleteFile(string path)
        {
            if (Fails("rm " + Path.GetFileName(path))) throw Failure("rm");
            base.DeleteFile(path);
        }
    }

    private static float[] Snapshot(IQwen3Model model) => model.Weights.Data.Slice(0, (int)model.Weights.Count).ToArray();

    /// <summary>The step of the checkpoint Find returns, after loading it into a fresh model and comparing the weights.</summary>
    private static long ResumedStep(string dir, Dictionary<long, float[]> weightsAt)
    {
        string? folder = TrainingCheckpoint.Find(dir);
        Assert.True(folder is not null, "no complete checkpoint found; left: " + string.Join(", ", Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName)));
        using var model = TrainTiny.Create();
        using var trainer = new Trainer(model, Data, Options());
        trainer.Load(dir);
        Assert.Equal(weightsAt[trainer.Step], Snapshot(model));
        return trainer.Step;
    }

    private static void AssertOnlyTheCheckpointRemains(string dir)
    {
        TrainingCheckpoint.CleanStrays(dir);
        var left = Directory.EnumerateFileSystemEntries(dir).Select(e => Path.GetFileName(e)!).Where(n => n != TrainingCheckpoint.FolderName + ".old").ToArray();
        Assert.Equal([TrainingCheckpoint.FolderName], left);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FailureAtEveryStep_OfTwoSavesInARow_LeavesALoadableLatestOrPreviousCheckpoint(bool kill)
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 1);
        using var trainer = new Trainer(model, Data, Options());
        var weightsAt = new Dictionary<long, float[]>();
        using var root = new TempDirectory("crash");
        string template = Path.Combine(root.Dir, "template");
        trainer.TrainStep();
        weightsAt[1] = Snapshot(model);
        trainer.Save(template);                                                // a finished save at step 1
        trainer.TrainStep();
        weightsAt[2] = Snapshot(model);

        // How many steps a save over an existing checkpoint takes (no failure).
        var counter = new FailingFileSystem(int.MaxValue, kill);
        string probe = Copy(template, Path.Combine(root.Dir, "probe"));
        trainer.Save(probe, counter);
        int steps = counter.Steps;
        Assert.True(steps >= 10, "a save has at least: lock dir, 3 writes, sync, move old, sync, move new, sync, discard: " + string.Join("; ", counter.Log));

        for (int first = 1; first <= steps + 1; first++)
        {
            string dir = Copy(template, Path.Combine(root.Dir, $"run-{first}"));
            bool firstDone = TrySave(trainer, dir, new FailingFileSystem(first, kill));
            Assert.Equal(first >= steps, firstDone);                          // the last step (deleting the lock file) may fail harmlessly
            long afterFirst = ResumedStep(dir, weightsAt);
            Assert.True(afterFirst == 2 || (!firstDone && afterFirst == 1), $"failure at step {first}: resumed at {afterFirst}");

            // A second crash, in the next save (the trainer is at step 2 still: same bytes, so the step tells the copy apart
            // only through which save it came from; we write the step-2 state again and check it stays loadable).
            for (int second = 1; second <= steps + 1; second += 3)
            {
                string again = Copy(dir, Path.Combine(root.Dir, $"run-{first}-{second}"));
                bool secondDone = TrySave(trainer, again, new FailingFileSystem(second, kill));
                long afterSecond = ResumedStep(again, weightsAt);
                Assert.True(afterSecond >= (secondDone ? 2 : afterFirst), $"failures at steps {first} then {second}: resumed at {afterSecond}");
                trainer.Save(again);                                           // the next start: a clean save succeeds
                Assert.Equal(2, ResumedStep(again, weightsAt));
                AssertOnlyTheCheckpointRemains(again);
                Directory.Delete(again, recursive: true);
            }
            Directory.Delete(dir, recursive: true);
        }
    }

    private static bool TrySave(Trainer trainer, string dir, CheckpointFileSystem fs)
    {
        try { trainer.Save(dir, fs); return true; }
        catch (IOException e) when (e.Message.StartsWith("injected failure", StringComparison.Ordinal)) { return false; }
    }

    private static string Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var entry in Directory.EnumerateFileSystemEntries(from))
        {
            string target = Path.Combine(to, Path.GetFileName(entry));
            if (Directory.Exists(entry)) Copy(entry, target);
            else File.Copy(entry, target);
        }
        return to;
    }

    [Fact]
    public void Save_WritesAndSyncsEverything_BeforeTheRenamesThatPublishIt()
    {
        using var model = TrainTiny.Create();
        using var trainer = new Trainer(model, Data, Options());
        using var root = new TempDirectory("order");
        trainer.Save(root.Dir);
        var recorder = new FailingFileSystem(int.MaxValue, kill: false);
        trainer.Save(root.Dir, recorder);
        string Normal(string step) => System.Text.RegularExpressions.Regex.Replace(step, "[0-9a-f]{32}", "ID");
        Assert.Equal(
        [
            "mkdir order", "mkdir .checkpoint.ID.tmp",
            "write model.safetensors", "write config.json", "write trainer.safetensors", "sync .checkpoint.ID.tmp",
            "move checkpoint -> checkpoint.old", "sync order",
            "move .checkpoint.ID.tmp -> checkpoint", "sync order",
            "move checkpoint.old -> .checkpoint.ID.1.tmp", "sync order", "rmdir .checkpoint.ID.1.tmp",
            "rm .checkpoint.ID.lock",
        ], recorder.Log.Select(Normal));
    }

    [Fact]
    public void OnlyTheOldCheckpointSurvived_ResumeFindsIt_AndTheNextSaveKeepsIt_UntilTheNewOneIsInPlace()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 5);
        using var trainer = new Trainer(model, Data, Options());
        using var root = new TempDirectory("old");
        trainer.TrainStep();
        var atOne = Snapshot(model);
        trainer.Save(root.Dir);
        Directory.Move(Path.Combine(root.Dir, "checkpoint"), Path.Combine(root.Dir, "checkpoint.old"));   // killed between the renames
        Assert.Equal(1, ResumedStep(root.Dir, new() { [1] = atOne }));

        // The next save is killed just before its new folder takes the name: checkpoint.old must still be there.
        trainer.TrainStep();
        var recorder = new FailingFileSystem(int.MaxValue, kill: true);
        string probe = Copy(root.Dir, root.Dir + "-probe");
        trainer.Save(probe, recorder);
        int rename = recorder.Log.FindIndex(s => s.EndsWith("-> checkpoint", StringComparison.Ordinal)) + 1;
        Assert.False(TrySave(trainer, root.Dir, new FailingFileSystem(rename, kill: true)));
        Assert.Equal(1, ResumedStep(root.Dir, new() { [1] = atOne }));
        Directory.Delete(probe, recursive: true);
    }

    [Fact]
    public void UnwritableRunFolder_FailsTheSave_AndLeavesTheCheckpointUntouched()
    {
        using var model = TrainTiny.Create();
        using var trainer = new Trainer(model, Data, Options());
        using var root = new TempDirectory("ro");
        trainer.Save(root.Dir);
        var before = Directory.GetFiles(Path.Combine(root.Dir, "checkpoint")).ToDictionary(f => Path.GetFileName(f)!, File.ReadAllBytes);
        trainer.TrainStep();
        var denied = new DenyingFileSystem();
        Assert.Throws<UnauthorizedAccessException>(() => trainer.Save(root.Dir, denied));
        var after = Directory.GetFiles(Path.Combine(root.Dir, "checkpoint")).ToDictionary(f => Path.GetFileName(f)!, File.ReadAllBytes);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, bytes) in before) Assert.Equal(bytes, after[name]);
        AssertOnlyTheCheckpointRemains(root.Dir);
    }

    /// <summary>An immutable folder (chattr +i) or a read-only one for a non-root user: creating anything is refused.</summary>
    private sealed class DenyingFileSystem : CheckpointFileSystem
    {
        public override void CreateDirectory(string path)
        {
            if (Path.GetFileName(path).StartsWith('.')) throw new UnauthorizedAccessException($"Access to the path '{path}' is denied.");
            base.CreateDirectory(path);
        }
    }

    [Fact]
    public void StrayTempFolders_AreRemoved_UnlessTheirSaveIsAlive()
    {
        using var root = new TempDirectory("strays");
        string dead = Path.Combine(root.Dir, ".checkpoint.0123abcd.tmp"), deadTrash = Path.Combine(root.Dir, ".checkpoint.0123abcd.1.tmp");
        string live = Path.Combine(root.Dir, ".checkpoint.4567cdef.tmp"), liveLock = Path.Combine(root.Dir, ".checkpoint.4567cdef.lock");
        foreach (var folder in new[] { dead, deadTrash, live })
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "model.safetensors"), "partial");
        }
        File.WriteAllText(Path.Combine(root.Dir, ".checkpoint.0123abcd.lock"), "");           // its process is gone: not held
        using (new FileStream(liveLock, FileMode.Create, FileAccess.ReadWrite, FileShare.None))   // a live save holds its lock
        {
            var removed = TrainingCheckpoint.CleanStrays(root.Dir);
            Assert.Equal(3, removed.Count);
            Assert.False(Directory.Exists(dead));
            Assert.False(Directory.Exists(deadTrash));
            Assert.True(Directory.Exists(live));
        }
        TrainingCheckpoint.CleanStrays(root.Dir);
        Assert.Empty(Directory.EnumerateFileSystemEntries(root.Dir));
    }

    [Fact]
    public void RunFolderLock_RefusesASecondHolder_AndIsFreeAgainAfterwards()
    {
        using var root = new TempDirectory("lock");
        using (RunFolderLock.Acquire(root.Dir))
        {
            var e = Assert.Throws<IOException>(() => RunFolderLock.Acquire(root.Dir));
            Assert.Contains("in use by another training process", e.Message);
            Assert.Contains(root.Dir, e.Message);
        }
        using (RunFolderLock.Acquire(root.Dir)) { }
    }
}
