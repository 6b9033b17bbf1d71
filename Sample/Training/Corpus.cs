using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Training;

/// <summary>The training text: the bundled tinyshakespeare (copied next to the executable) or a user's file, tokenised.</summary>
internal static class Corpus
{
    /// <summary>Where the build copies data/tinyshakespeare.txt (see the Sample's csproj).</summary>
    public static string BundledPath => Path.Combine(AppContext.BaseDirectory, "data", "tinyshakespeare.txt");

    public static ITokenizer Tokenizer(string name) => name switch
    {
        "byte" => ByteTokenizer.Instance,
        "qwen3" => Qwen3Tokenizer.Bundled,
        _ => throw new ArgumentException($"Unknown tokenizer '{name}' (byte or qwen3)."),
    };

    /// <summary>Reads and tokenises <paramref name="path"/> (null: the bundled corpus) and splits it 90 / 10 as nanoGPT.</summary>
    public static TextDataset Load(string? path, ITokenizer tokenizer)
    {
        string file = path ?? BundledPath;
        if (!File.Exists(file))
            throw new FileNotFoundException(path is null
                ? $"The bundled corpus is missing: expected {file} (the build copies data/tinyshakespeare.txt there)."
                : $"--data: file '{file}' does not exist.", file);
        if (tokenizer is ByteTokenizer) return TextDataset.FromBytes(File.ReadAllBytes(file));
        return new TextDataset(tokenizer.Encode(File.ReadAllText(file)));
    }
}
