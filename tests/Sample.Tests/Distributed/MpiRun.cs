using System.Diagnostics;
using System.Text;

namespace Qwen3Gen.Sample.Tests.Distributed;

/// <summary>
/// Launches the built qwen3gen under `mpirun -np N` (Open MPI), as a user would: `dotnet qwen3gen.dll train …` on every
/// rank, output captured. When mpirun is missing these tests fail under CI (CI=true: .ci/run installs Open MPI) and,
/// outside CI, say so in the test output and end without running (MPI is an optional install for users).
/// </summary>
internal sealed class MpiRun : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _stdout = new();

    private MpiRun(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) { _output.AppendLine(e.Data); _stdout.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The mpirun on PATH, or null.</summary>
    public static string? Mpirun => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(dir => Path.Combine(dir, "mpirun")).FirstOrDefault(File.Exists);

    /// <summary>False (after logging why) when mpirun is absent outside CI; throws when it is absent under CI.</summary>
    public static bool Available(Xunit.Abstractions.ITestOutputHelper output)
    {
        if (Mpirun is not null) return true;
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException("mpirun is not installed but CI=true: .ci/run must install Open MPI (apt-get install openmpi-bin libopenmpi-dev).");
        output.WriteLine("mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev): this multi-rank test did not run.");
        return false;
    }

    /// <param name="input">Written to mpirun's stdin (which it passes to rank 0), then closed; null: no stdin.</param>
    public static MpiRun Start(int ranks, IEnumerable<string> arguments, string? input = null)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "qwen3gen.dll");
        var info = new ProcessStartInfo(Mpirun!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl_vader_single_copy_mechanism", "none",
                                  "-np", ranks.ToString(), "dotnet", dll })
            info.ArgumentList.Add(a);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["DOTNET_TieredPGO"] = "0";                     // steadier timings; no effect on results
        var process = Process.Start(info)!;
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        return new MpiRun(process);
    }


    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>What the ranks wrote to stdout only (lines, in the order mpirun forwarded them).</summary>
    public string Stdout { get { lock (_output) return _stdout.ToString(); } }

    public int Id => _process.Id;

    /// <summary>Waits for the job to end (at most <paramref name="timeout"/>); returns mpirun's exit code.</summary>
    public int Wait(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mpirun did not end within {timeout.TotalSeconds} s. Output:\n{Output}");
        }
        _process.WaitForExit();                                         // flush the output readers
        return _process.ExitCode;
    }

    /// <summary>Waits until the output contains <paramref name="text"/>.</summary>
    public void WaitFor(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text))
        {
            if (_process.HasExited || clock.Elapsed > timeout)
                throw new TimeoutException($"'{text}' did not appear within {timeout.TotalSeconds} s. Output:\n{Output}");
            Thread.Sleep(50);
        }
    }

    /// <summary>The rank processes: the `dotnet` processes started by mpirun (its children), by pid.</summary>
    public int[] RankProcesses()
    {
        var children = new List<int>();
        foreach (var task in Directory.GetDirectories($"/proc/{_process.Id}/task"))
        {
            string file = Path.Combine(task, "children");
            if (File.Exists(file))
                children.AddRange(File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
        }
        return children.Order().ToArray();
    }

    public const int SigKill = 9, SigTerm = 15, SigStop = 19;

    /// <summary>Sends signal <paramref name="signal"/> to process <paramref name="pid"/> (kill(2)).</summary>
    public static void Signal(int pid, int signal)
    {
        if (kill(pid, signal) != 0) throw new InvalidOperationException($"kill({pid}, {signal}) failed.");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int kill(int pid, int signal);

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
