using System.Text.Json;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Runtime.Tests.Tokenization;

/// <summary>Goldens (copied next to the test assembly) and the repository's tinyshakespeare corpus.</summary>
internal static class TokenizerTestData
{
    public static Qwen3Tokenizer Tokenizer => Qwen3Tokenizer.Bundled;

    public static string DataPath(string name) => Path.Combine(AppContext.BaseDirectory, "Tokenization", "Data", name);

    public sealed record Golden(int Line, string Text, int[] Ids);

    public static IReadOnlyList<Golden> ReadGolden()
    {
        var list = new List<Golden>();
        int line = 0;
        foreach (var l in File.ReadLines(DataPath("golden.jsonl")))
        {
            line++;
            if (l.Length == 0) continue;
            using var doc = JsonDocument.Parse(l);
            var root = doc.RootElement;
            list.Add(new Golden(line, root.GetProperty("text").GetString()!,
                root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()));
        }
        return list;
    }

    /// <summary>data/tinyshakespeare.txt, found by walking up to the directory that holds Qwen3Gen.sln.</summary>
    public static string ShakespearePath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Qwen3Gen.sln")))
                return Path.Combine(dir.FullName, "data", "tinyshakespeare.txt");
        throw new FileNotFoundException("No Qwen3Gen.sln above the test assembly; cannot find data/tinyshakespeare.txt.");
    }

    /// <summary>First position where two id sequences differ, with a few ids of context, for failure messages.</summary>
    public static string Diff(int[] expected, int[] actual)
    {
        int i = 0;
        while (i < expected.Length && i < actual.Length && expected[i] == actual[i]) i++;
        string Around(int[] a) => "[" + string.Join(",", a.Skip(Math.Max(0, i - 2)).Take(8)) + "]";
        return $"first difference at index {i} (expected {expected.Length} ids, got {actual.Length}): expected ...{Around(expected)} got ...{Around(actual)}";
    }
}
