using System.Diagnostics;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>
/// How long each fuzz target runs and from which seed. CI runs a few seconds per target; a longer hunt sets
/// QWEN3GEN_FUZZ_SECONDS (seconds per target) and QWEN3GEN_FUZZ_SEED (default: a fixed seed, so a CI run is
/// reproducible). Case i of a run draws from its own generator seeded with (seed, i): a failure names the seed and
/// the case, keeps the case's input folder, and `QWEN3GEN_FUZZ_SEED=s` with the same target replays it.
/// </summary>
public static class FuzzBudget
{
    public const ulong DefaultSeed = 20_261_202;

    public static double Seconds =>
        double.TryParse(Environment.GetEnvironmentVariable("QWEN3GEN_FUZZ_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0 ? s : 3;

    public static ulong Seed =>
        ulong.TryParse(Environment.GetEnvironmentVariable("QWEN3GEN_FUZZ_SEED"), out ulong s) ? s : DefaultSeed;

    /// <summary>
    /// Runs <paramref name="fuzzCase"/> for case 0, 1, 2, ... until the time budget is spent (at least
    /// <paramref name="minCases"/> cases), each with its generator and a fresh folder for its input files. A case throws
    /// to fail; the failure is rethrown with the seed and the case, and the case's folder is kept. Returns the case count.
    /// </summary>
    public static int Run(string target, Action<Random, string> fuzzCase, int minCases = 30)
    {
        ulong seed = Seed;
        var clock = Stopwatch.StartNew();
        string root = Path.Combine(Path.GetTempPath(), "qwen3gen-fuzz", target + "-" + Guid.NewGuid().ToString("N")[..8]);
        int cases = 0;
        for (; cases < minCases || clock.Elapsed.TotalSeconds < Seconds; cases++)
        {
            var random = new Random(CaseSeed(seed, target, cases));
            string folder = Path.Combine(root, cases.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Directory.CreateDirectory(folder);
            try { fuzzCase(random, folder); }
            catch (Exception e)
            {
                throw new FuzzFailure($"{target}: case {cases} failed (QWEN3GEN_FUZZ_SEED={seed}; its input is kept in {folder}): {e.GetType().Name}: {e.Message}", e);
            }
            Directory.Delete(folder, recursive: true);
        }
        Directory.Delete(root, recursive: true);
        return cases;
    }

    /// <summary>A generator seed from (seed, target, case), the same in every process (string.GetHashCode is not).</summary>
    private static int CaseSeed(ulong seed, string target, int fuzzCase)
    {
        ulong h = 14695981039346656037 ^ seed;
        foreach (char c in target) h = (h ^ c) * 1099511628211;
        h = (h ^ (uint)fuzzCase) * 1099511628211;
        return (int)(h ^ (h >> 32));
    }
}

/// <summary>A fuzz case that ended in an outcome that is not allowed; the message says how to replay it.</summary>
public sealed class FuzzFailure(string message, Exception inner) : Exception(message, inner);
