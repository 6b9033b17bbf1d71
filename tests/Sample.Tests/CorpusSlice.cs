using Qwen3Gen.Sample.Runs;

namespace Qwen3Gen.Sample.Tests;

/// <summary>The first bytes of the bundled Shakespeare as a small training text, for runs that must be quick.</summary>
internal static class CorpusSlice
{
    /// <summary>Writes the first <paramref name="bytes"/> bytes of the corpus to FOLDER/slice.txt (once) and returns its path.</summary>
    public static string Write(string folder, int bytes = 40_000)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "slice.txt");
        if (!File.Exists(path)) File.WriteAllBytes(path, File.ReadAllBytes(Corpus.BundledPath).AsSpan(0, bytes).ToArray());
        return path;
    }
}
