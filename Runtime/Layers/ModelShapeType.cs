namespace Qwen3Gen.Layers;

/// <summary>
/// A compiled model's <c>Shape</c> struct as a value, so that shape-independent runtime code can run generic code over
/// it without reflection: <c>definition.Shape.Accept(visitor)</c> calls <c>visitor.Visit&lt;Shape&gt;()</c>, and the JIT
/// compiles that call for the model's constants (the tensor-parallel ranks are built this way).
/// </summary>
public abstract class ModelShapeType
{
    public abstract T Accept<T>(IShapeVisitor<T> visitor);
}

/// <inheritdoc cref="ModelShapeType"/>
public sealed class ModelShapeType<S> : ModelShapeType where S : struct, IModelShape
{
    public override T Accept<T>(IShapeVisitor<T> visitor) => visitor.Visit<S>();
}

/// <summary>Generic code to run over a model's shape; see <see cref="ModelShapeType"/>.</summary>
public interface IShapeVisitor<out T>
{
    T Visit<S>() where S : struct, IModelShape;
}
