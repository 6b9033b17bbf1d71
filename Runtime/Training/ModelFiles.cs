using Qwen3Gen.Inference;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Training;

/// <summary>
/// What a training checkpoint carries besides weights, optimizer state and config.json so that the folder is a model
/// that `generate`, `chat`, `bench`, `info` and `export` accept like a Hugging Face snapshot: the tokenizer the model was
/// trained with (see <see cref="TokenizerFolder"/>) and a generation_config.json. Kept apart from the save mechanics of
/// <see cref="TrainingCheckpoint"/>: a save asks this object to write its files into the folder being assembled.
/// </summary>
public sealed class ModelFiles
{
    private readonly Action<string> _writeTokenizer;
    private Lora.LoraAdapter? _adapter;

    private ModelFiles(string tokenizer, Action<string> writeTokenizer, GenerationConfig generation)
    {
        Tokenizer = tokenizer;
        _writeTokenizer = writeTokenizer;
        Generation = generation;
    }

    /// <summary>"byte", "qwen3" or the folder the tokenizer files are copied from.</summary>
    public string Tokenizer { get; }

    /// <summary>What generation_config.json will hold.</summary>
    public GenerationConfig Generation { get; }

    /// <summary>
    /// Byte-level models: the byte tokenizer files, and nanoGPT's sample.py settings as the sampling defaults
    /// (temperature 0.8, top-k 200); there is no end-of-sequence id.
    /// </summary>
    public static ModelFiles ByteLevel { get; } = new("byte", TokenizerFolder.WriteByteLevel,
        new GenerationConfig { DoSample = true, Temperature = 0.8f, TopK = 200 });

    /// <summary>Models trained with the bundled Qwen3 tokenizer: its files and Qwen3's generation_config.json.</summary>
    public static ModelFiles BundledQwen3 { get; } = new("qwen3", TokenizerFolder.WriteBundledQwen3, GenerationConfig.Qwen3Default);

    /// <summary>A model fine-tuned from <paramref name="snapshot"/>: its tokenizer files and generation_config.json (or the defaults).</summary>
    public static ModelFiles CopiedFrom(string snapshot, ModelConfig config)
    {
        string dir = Path.GetFullPath(snapshot);
        var generation = ModelDirectory.ReadGenerationConfig(dir, config);
        if (TokenizerFolder.IsByteLevel(dir)) return new(dir, TokenizerFolder.WriteByteLevel, generation);
        ModelDirectory.Tokenizer(dir).Require();
        return new(dir, target => TokenizerFolder.Copy(dir, target), generation);
    }

    /// <summary>A copy that also writes <paramref name="adapter"/> (PEFT's adapter_config.json + adapter_model.safetensors).</summary>
    public ModelFiles WithAdapter(Lora.LoraAdapter adapter) => new(Tokenizer, _writeTokenizer, Generation) { _adapter = adapter };

    /// <summary>Writes the tokenizer files, generation_config.json and the LoRA adapter, if any, into <paramref name="folder"/>.</summary>
    public void WriteTo(string folder)
    {
        _writeTokenizer(folder);
        _adapter?.Save(folder);
        File.WriteAllText(Path.Combine(folder, GenerationConfig.FileName), Generation.ToJson());
    }
}
