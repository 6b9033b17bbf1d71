using System.Diagnostics;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// Encode throughput of the Qwen3 tokenizer on the bundled tinyshakespeare, one thread, best of N (Stopwatch):
/// dotnet run -c Release --project tests/Benchmarks -- tokenizer-quick [reps] [bpe]   (bpe: own-BPE-only route)
/// </summary>
public static class TokenizerQuick
{
    public static void Run(string[] args)
    {
        int reps = args.Length > 1 ? int.Parse(args[1]) : 10;
        string path = Path.Combine(RepoRoot(), "data", "tinyshakespeare.txt");
        string text = File.ReadAllText(path);
        var tokenizer = args.Length > 2 && args[2] == "bpe" ? Qwen3Tokenizer.LoadBundled(useTiktoken: false) : Qwen3Tokenizer.Bundled;
        int count = tokenizer.Encode(text).Length;                 // warm-up (JIT, caches)
        double best = double.MaxValue;
        var times = new List<double>();
        for (int i = 0; i < reps; i++)
        {
            var clock = Stopwatch.StartNew();
            count = tokenizer.Encode(text).Length;
            times.Add(clock.Elapsed.TotalSeconds);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        times.Sort();
        double mb = text.Length / 1e6;
        Console.WriteLine($"tinyshakespeare: {text.Length:N0} bytes -> {count:N0} tokens; best {best * 1000:F1} ms = {mb / best:F1} MB/s, " +
                          $"median {times[times.Count / 2] * 1000:F1} ms = {mb / times[times.Count / 2]:F1} MB/s (1 thread, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Qwen3Gen.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("Qwen3Gen.sln not found");
    }
}
