using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Definitions;
using Qwen3Gen.Inference;
using Qwen3Gen.Sample.Commands;
using Qwen3Gen.Sample.Training;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Tests;

/// <summary>
/// A trained model is a model: the checkpoint folder `train` leaves carries its tokenizer and generation_config.json,
/// so `generate`, `chat` (Qwen3-tokenizer models), `bench` and `info` take it as they take a Hugging Face snapshot.
/// </summary>
public sealed class TrainedModelTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "qwen3gen-trained-" + Guid.NewGuid().ToString("N"));
    private readonly string _data;

    public TrainedModelTests()
    {
        Directory.CreateDirectory(_root);
        _data = Path.Combine(_root, "slice.txt");
        File.WriteAllBytes(_data, File.ReadAllBytes(Corpus.BundledPath).AsSpan(0, 20_000).ToArray());
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string Train(string model, string tokenizer, int batch, int context)
    {
        string output = Path.Combine(_root, model);
        var settings = new TrainSettings
        {
            Model = model, Tokenizer = tokenizer, Data = _data, Out = output, Threads = 1, EvalInterval = 0, SampleChars = 0,
            Training = new TrainingOptions { Steps = 3, Batch = batch, Context = context, WarmupSteps = 1, LearningRate = 3e-3 },
        };
        TrainRun.Execute(settings, new Silent(), CancellationToken.None);
        return Path.Combine(output, TrainingCheckpoint.FolderName);
    }

    [Fact]
    public void ByteLevelCheckpoint_CarriesItsTokenizer_AndGenerateContinuesLikeTheWeightsDo()
    {
        string checkpoint = Train("Qwen3Tiny", "byte", 3, 16);
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json" })
            Assert.True(File.Exists(Path.Combine(checkpoint, file)), $"{file} missing from the checkpoint");
        Assert.True(TokenizerFolder.IsByteLevel(checkpoint));
        Assert.Same(ByteTokenizer.Instance, TokenizerFolder.Load(checkpoint));

        // tokenizer.json is Hugging Face's byte-level BPE with id = byte value: 256 single-character entries, no merges,
        // printable ASCII standing for itself (GPT-2's alphabet) and the 256 ids all distinct.
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, "tokenizer.json"))))
        {
            var model = doc.RootElement.GetProperty("model");
            Assert.Equal("BPE", model.GetProperty("type").GetString());
            Assert.Equal(0, model.GetProperty("merges").GetArrayLength());
            var vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
            Assert.Equal(256, vocab.Count);
            Assert.Equal(256, vocab.Values.Distinct().Count());
            Assert.All(vocab.Keys, k => Assert.Equal(1, k.Length));
            for (int b = 33; b <= 126; b++) Assert.Equal(b, vocab[((char)b).ToString()]);
            Assert.Equal(32, vocab["\u0120"]);      // GPT-2 shows the space as Ġ
            Assert.Equal(10, vocab["\u010A"]);      // and the newline as Ċ
        }
        var generation = GenerationConfig.FromJson(File.ReadAllText(Path.Combine(checkpoint, "generation_config.json")));
        Assert.True(generation.DoSample);
        Assert.Empty(generation.EosTokenIds);

        // generate, greedy, in-process: the text must be what greedy decoding of the saved weights gives.
        var output = new StringWriter();
        var error = new StringWriter();
        var settings = new GenerateCommand.Settings
        {
            Prompt = "ROMEO:",
            Model = new ModelSettings { ModelDir = checkpoint, MaxTokens = 24, Temperature = 0, Threads = 1 },
        };
        Assert.Equal(0, GenerateCommand.Run(settings, output, error, terminal: false));
        Assert.Contains("generated 24 tokens", error.ToString());

        using var reference = Qwen3Tiny.Create(WeightFormat.F32);
        CheckpointLoader.Load(reference.Tensors, reference.Config.TieEmbeddings, reference.Weights, Path.Combine(checkpoint, "model.safetensors"));
        using var session = reference.CreateSession(64);
        var ids = new List<int>();
        int next = ArgMax(session.Prefill("ROMEO:"u8.ToArray().Select(b => (int)b).ToArray()));
        for (int i = 0; i < 24; i++)
        {
            ids.Add(next);
            if (i < 23) next = ArgMax(session.Decode(next));
        }
        Assert.Equal(ByteTokenizer.Instance.Decode(ids.ToArray()), output.ToString().TrimEnd('\n'));

        // chat needs the Qwen3 tokenizer and says so; info describes the folder.
        var chatError = new StringWriter();
        Assert.Equal(1, ChatCommand.Run(new ChatCommand.Settings { Model = new ModelSettings { ModelDir = checkpoint } },
                                        new StringReader("hi\n"), new StringWriter(), chatError, terminal: false));
        Assert.Contains("byte-level", chatError.ToString());
        Assert.Equal(0, InfoCommand.Run(checkpoint));
        Assert.Equal(0, BenchCommand.RunGenerate("ignored", "f32", "1", 4, 2, 1, new StringWriter(), new StringWriter(), checkpoint));
    }

    [Fact]
    public void Qwen3TokenizerCheckpoint_CarriesTheTokenizerFiles_AndChats()
    {
        string checkpoint = Train("Qwen3FullVocab", "qwen3", 1, 16);
        Assert.True(new TokenizerFiles(checkpoint).Complete);
        Assert.False(TokenizerFolder.IsByteLevel(checkpoint));
        var tokenizer = Assert.IsType<Qwen3Tokenizer>(TokenizerFolder.Load(checkpoint));
        Assert.Equal(Qwen3Tokenizer.Bundled.Encode("To be, or not to be"), tokenizer.Encode("To be, or not to be"));
        var generation = GenerationConfig.FromJson(File.ReadAllText(Path.Combine(checkpoint, "generation_config.json")));
        Assert.Equal([GenerationConfig.ImEnd, GenerationConfig.EndOfText], generation.EosTokenIds);

        var output = new StringWriter();
        var error = new StringWriter();
        var settings = new GenerateCommand.Settings
        {
            Prompt = "Hello", Chat = true, NoThink = true,
            Model = new ModelSettings { ModelDir = checkpoint, MaxTokens = 3, Temperature = 0, Threads = 1 },
        };
        Assert.Equal(0, GenerateCommand.Run(settings, output, error, terminal: false));
        Assert.Contains("prompt ", error.ToString());
    }

    private static int ArgMax(ReadOnlySpan<float> logits) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);

    private sealed class Silent : ITrainingProgress
    {
        public void Info(string text) { }
        public void Begin(long firstStep, long totalSteps) { }
        public void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime) { }
        public void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample) { }
        public void Saved(long step, string folder) { }
    }
}
