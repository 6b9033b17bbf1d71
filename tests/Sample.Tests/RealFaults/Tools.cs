using System.Diagnostics;

namespace Qwen3Gen.Sample.Tests.RealFaults;

/// <summary>
/// The system tools the real-fault tests drive (strace, chattr, mount, bash). A missing tool fails the test with a message
/// that says what to install: these tests never pass without running (.ci/run installs strace and e2fsprogs).
/// </summary>
internal static class Tools
{
    /// <summary>The full path of <paramref name="name"/> on PATH; throws naming the package when it is missing.</summary>
    public static string Require(string name, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]))
        {
            string path = Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        throw new InvalidOperationException($"'{name}' is not installed: this test needs it (apt-get install {package}; .ci/run installs it).");
    }

    /// <summary>Runs a tool to the end; returns its exit code and stderr.</summary>
    public static (int Code, string Error) Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        string error = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, error.Trim());
    }

    /// <summary>
    /// Makes <paramref name="folder"/> really unwritable for root (whom permission bits do not stop): the immutable
    /// attribute (chattr +i, where the file system has it), else a read-only bind mount over it. Disposing undoes it.
    /// Throws, saying what was tried, when neither works.
    /// </summary>
    public static IDisposable ReadOnly(string folder)
    {
        string chattr = Require("chattr", "e2fsprogs");
        var (code, error) = Run(chattr, "+i", folder);
        if (code == 0) return new Undo(() => Run(chattr, "-i", folder), $"chattr +i {folder}");
        string mount = Require("mount", "mount");
        var (bind, bindError) = Run(mount, "--bind", folder, folder);
        if (bind == 0)
        {
            var (ro, roError) = Run(mount, "-o", "remount,ro,bind", folder);
            if (ro == 0) return new Undo(() => Run(Require("umount", "mount"), folder), $"mount -o remount,ro,bind {folder}");
            Run(Require("umount", "mount"), folder);
            bindError = roError;
        }
        throw new InvalidOperationException($"cannot make '{folder}' read-only for root: chattr +i failed ({error}) and a read-only bind mount failed ({bindError}).");
    }

    /// <summary>
    /// Mounts a tmpfs of <paramref name="kib"/> KiB on <paramref name="folder"/>: a real disk that fills (writes fail with
    /// ENOSPC). Disposing unmounts it. Throws, saying why, when mounting is not allowed (it needs root).
    /// </summary>
    public static IDisposable SmallDisk(string folder, int kib)
    {
        Directory.CreateDirectory(folder);
        var (code, error) = Run(Require("mount", "mount"), "-t", "tmpfs", "-o", $"size={kib}k", "tmpfs", folder);
        if (code != 0) throw new InvalidOperationException($"cannot mount a {kib} KiB tmpfs on '{folder}' for a full disk (it needs root): {error}");
        return new Undo(() => Run(Require("umount", "mount"), folder), $"tmpfs on {folder}");
    }

    private sealed class Undo(Func<(int, string)> undo, string what) : IDisposable
    {
        public override string ToString() => what;
        public void Dispose() => undo();
    }
}
