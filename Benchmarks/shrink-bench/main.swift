import ShrinkTensor
print("bench")
