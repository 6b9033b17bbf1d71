using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Qwen3Gen.Sample.Tests.RealFaults;

/// <summary>
/// The built qwen3gen (`dotnet qwen3gen.dll …`) as a real child process, optionally under a wrapper command (strace,
/// or bash setting a resource limit), with its output captured: what a user's shell would run.
/// </summary>
internal sealed class Child : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new(), _stderr = new();
    private bool _disposed;

    private Child(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Starts <c>wrapper… dotnet qwen3gen.dll arguments…</c>.</summary>
    public static Child Start(IEnumerable<string> wrapper, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        // Signals at their default disposition in the child, whatever the test runner inherited: a runner started with `&`
        // from a script ignores SIGINT, and an ignored signal stays ignored across fork and exec (the Ctrl+C test then fails).
        var command = new[] { "env", "--default-signal" }.Concat(wrapper)
                          .Concat(["dotnet", Path.Combine(AppContext.BaseDirectory, "qwen3gen.dll")]).Concat(arguments).ToList();
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command.Skip(1)) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        return new Child(Process.Start(info)!);
    }

    /// <summary>Runs to the end (at most <paramref name="timeout"/>); returns the exit code (128 + n for a process ended by signal n).</summary>
    public static (int Code, string Stdout, string Stderr) Run(IEnumerable<string> wrapper, IEnumerable<string> arguments, TimeSpan timeout,
                                                               IReadOnlyDictionary<string, string>? environment = null)
    {
        using var child = Start(wrapper, arguments, environment);
        int code = child.Wait(timeout);
        return (code, child.Stdout, child.Stderr);
    }

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;

    public int Wait(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
            throw new TimeoutException($"the child did not end within {timeout.TotalSeconds} s.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        }
        _process.WaitForExit();                                         // flush the output readers
        return _process.ExitCode;
    }

    /// <summary>The `dotnet` process itself: this process when run directly, else the wrapper's child (strace forks it).</summary>
    public int DotnetProcess()
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (Comm(Id) == "dotnet") return Id;
            foreach (var task in Directory.Exists($"/proc/{Id}/task") ? Directory.GetDirectories($"/proc/{Id}/task") : [])
            {
                string file = Path.Combine(task, "children");
                if (!File.Exists(file)) continue;
                foreach (var pid in File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse))
                    if (Comm(pid) == "dotnet") return pid;
            }
            Thread.Sleep(20);
        }
        throw new TimeoutException("no dotnet process under the child after 30 s.");
    }

    private static string Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return ""; }
    }

    /// <summary>Sends signal <paramref name="signal"/> to <paramref name="pid"/> (kill(2)).</summary>
    public static void Signal(int pid, int signal)
    {
        if (kill(pid, signal) != 0) throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    public const int SigInt = 2, SigKill = 9, SigTerm = 15;

    /// <summary>Kills the child (only it: a process it started, e.g. the one strace traces, is let go and runs on) and waits for it.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}
