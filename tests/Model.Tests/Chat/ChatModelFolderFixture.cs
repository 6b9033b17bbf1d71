using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests.Chat;

/// <summary>
/// A Hub-style snapshot of <see cref="Qwen3ChatTest"/> (full Qwen3 vocabulary on a tiny body) for the chat tests:
/// random weights from a fixed seed, BF16, sharded into two files, with config.json, generation_config.json and the
/// real tokenizer files (vocab.json, merges.txt, tokenizer_config.json of Runtime/Tokenization/qwen3, see NOTICE.md).
/// Loaded once through <see cref="ModelDirectory.Load"/>, the path a real snapshot takes.
/// <see cref="MoeChatModelFolderFixture"/> builds the same for the MoE twin, so every chat test class can run on both.
/// </summary>
public class ChatModelFolderFixture : IDisposable
{
    public const ulong Seed = 424242;

    private readonly string _root;

    public ChatModelFolderFixture() : this("Qwen3-ChatTest", nameof(Qwen3ChatTest), f => Qwen3ChatTest.Create(f)) { }

    protected ChatModelFolderFixture(string folder, string definitionName, Func<WeightFormat, IQwen3Model> create)
    {
        TestCatalog.Register();                           // Loaded below is matched among the registered definitions
        DefinitionName = definitionName;
        _root = Path.Combine(Path.GetTempPath(), "qwen3gen-chat-tests", Guid.NewGuid().ToString("N"));
        Directory = Path.Combine(_root, folder);
        using (var model = create(WeightFormat.F32))
        {
            WeightInit.Normal(model, Seed);
            SnapshotWriter.Save(model, Directory, SafeTensorsDType.BF16, shards: 2,
                generation: GenerationConfig.Qwen3Default, tokenizerDirectory: TokenizerSource);
        }
        Loaded = ModelDirectory.Load(Directory);
        Tokenizer = Qwen3Tokenizer.Load(Directory);
    }

    /// <summary>The compiled definition config.json must match (what the loaded model and the chat client report).</summary>
    public string DefinitionName { get; }

    /// <summary>The snapshot folder (holds model-00001-of-00002.safetensors, model-00002-of-00002.safetensors, ...).</summary>
    public string Directory { get; }

    public LoadedModel Loaded { get; }

    public Qwen3Tokenizer Tokenizer { get; }

    public static string TokenizerSource => ModelFolderFixture.TokenizerSource;

    /// <summary>A copy of the snapshot in a fresh folder (deleted with the fixture), to damage.</summary>
    public string Copy(string name)
    {
        string dir = Path.Combine(_root, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        foreach (var file in System.IO.Directory.GetFiles(Directory)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        return dir;
    }

    public void Dispose()
    {
        Loaded.Dispose();
        try { System.IO.Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>The same snapshot for <see cref="Qwen3ChatMoeTest"/>: model_type qwen3_moe, router and expert tensors.</summary>
public sealed class MoeChatModelFolderFixture() : ChatModelFolderFixture("Qwen3-ChatMoeTest", nameof(Qwen3ChatMoeTest), f => Qwen3ChatMoeTest.Create(f));

[CollectionDefinition(Name)]
public sealed class ChatModelFolderCollection : ICollectionFixture<ChatModelFolderFixture>
{
    public const string Name = "ChatSnapshot";
}

[CollectionDefinition(Name)]
public sealed class MoeChatSnapshotCollection : ICollectionFixture<MoeChatModelFolderFixture>
{
    public const string Name = "MoeChatSnapshot";
}
